"""The Zalo Official Account channel (OA Open API v3, OAuth v4, ZNS): see channel.py."""

from handlers.channels.zalo_oa.channel import ZaloOaChannel, zalo_oa_component

__all__ = ["ZaloOaChannel", "zalo_oa_component"]
