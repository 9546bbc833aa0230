"""CAP 1.2: the message model, safe XML in and out, and the one validator (schema, core, IPAWS, WEA, authority)."""
