"""XML-DSig for CAP: enveloped RSA-SHA256 signatures (as IPAWS-OPEN applies) and their verification.

``sign`` appends a ``ds:Signature`` as the last child of ``<alert>`` (where CAP 1.2 allows it);
``verify`` says which check failed: no signature, certificate, digest (the message was changed
after signing) or signature value. Keys and certificates are PEM bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree
from signxml import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature, XMLSigner, XMLVerifier
from signxml.algorithms import CanonicalizationMethod

from alerts.cap.xml import DSIG_NS, CapError, parse_xml


@dataclass(frozen=True)
class Verification:
    """``ok`` and, when not, ``check`` (no-signature | certificate | digest | signature | input) and why."""

    ok: bool
    check: str | None = None
    message: str = ""


def sign(xml: bytes, key_pem: bytes, cert_pem: bytes) -> bytes:
    """The CAP message ``xml`` with an enveloped signature by ``key_pem`` (certificate included)."""
    root = parse_xml(xml)
    for old in root.findall(f"{{{DSIG_NS}}}Signature"):
        root.remove(old)
    signer = XMLSigner(signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                       c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    signer.namespaces = {"ds": DSIG_NS}
    try:
        signed = signer.sign(root, key=key_pem, cert=cert_pem)
    except (ValueError, TypeError) as exc:
        raise CapError(f"key: cannot sign with this key and certificate: {exc}") from None
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def verify(xml: bytes, cert_pem: bytes) -> Verification:
    """Check the enveloped signature of ``xml`` against the trusted certificate ``cert_pem``."""
    root = parse_xml(xml)
    if root.find(f".//{{{DSIG_NS}}}Signature") is None:
        return Verification(False, "no-signature", "the message carries no ds:Signature")
    try:
        XMLVerifier().verify(root, x509_cert=cert_pem)
    except InvalidDigest as exc:
        return Verification(False, "digest", f"the signed content was changed after signing ({exc})")
    except InvalidCertificate as exc:
        return Verification(False, "certificate", str(exc))
    except InvalidSignature as exc:
        return Verification(False, "signature", f"the signature value does not match the key ({exc})")
    except InvalidInput as exc:
        return Verification(False, "input", str(exc))
    return Verification(True)
