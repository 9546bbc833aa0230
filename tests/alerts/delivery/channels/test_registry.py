"""The one list of channels the channel worker runner reads."""

from __future__ import annotations

from alerts.delivery.channels import configured_channels
from alerts.delivery.models import ChannelType
from emergency.config import Settings


async def test_a_channel_without_its_setting_is_off_and_each_configured_one_is_there(tmp_path):
    bare = configured_channels(Settings(data_dir=tmp_path))
    assert [c.type for c in bare] == [ChannelType.webhook]  # webhooks need no setting: each subscriber brings a URL
    full = configured_channels(Settings(data_dir=tmp_path, smtp_url="smtp://127.0.0.1:2525",
                                        sms_gateway_url="http://127.0.0.1:13013/cgi-bin/sendsms?username=u&password=p"),
                               store=None)
    assert [c.type for c in full] == [ChannelType.email, ChannelType.sms, ChannelType.webhook]
    assert all(c.per_process is False for c in full)
    for channel in bare + full:
        await channel.close()
