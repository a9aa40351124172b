"""Fake DingTalk custom robot webhook (`POST oapi.dingtalk.com/robot/send`)."""
