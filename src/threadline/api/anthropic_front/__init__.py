"""Anthropic's Messages API (``/v1/messages``) in front of every configured model."""
