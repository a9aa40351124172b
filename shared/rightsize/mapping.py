"""ActionTrail's (serviceName, eventName) -> the RAM actions the call needed.

The rule: the RAM service code is the lower-cased `serviceName` and the action name is the
`eventName` (`Ecs` + `StopInstance` -> `ecs:StopInstance`), as Alibaba's "RAM authorization"
tables name one action per API operation. The exceptions are calls whose event name is not
the name of the action RAM checks, or that need two actions, and services whose ActionTrail
name is not their RAM code. Each row cites where it comes from (docs/rightsize.md lists them
with their links):

- IMS (`serviceName: Ims`): RAM users, groups and access keys are recorded by the identity
  service, but authorized as `ram:` actions (ActionTrail's IMS event reference).
- OSS: ActionTrail records OSS data events by API name ("Object Storage Service data events"),
  while OSS's RAM policy reference maps several APIs to one action: ListBuckets (GetService)
  -> `oss:ListBuckets`, ListObjects (GetBucket) / ListObjectsV2 -> `oss:ListObjects`, uploads
  of every kind (AppendObject, PostObject, multipart) -> `oss:PutObject`, HeadObject and
  GetObjectMeta -> `oss:GetObject`, DeleteMultipleObjects -> `oss:DeleteObject`; copying needs
  `oss:GetObject` on the source and `oss:PutObject` on the target. ActionTrail's own table
  spells two event names `InitateMultipartUpload` and `UplaodPartCopy`; both spellings map.
"""
from __future__ import annotations

from shared.audit.pipeline import SERVICE_ALIASES

# ActionTrail serviceName (lower case) -> RAM service code, where they differ (the access audit's table).
SERVICE_CODES = SERVICE_ALIASES

_PUT = ("oss:PutObject",)
_GET = ("oss:GetObject",)
_COPY = ("oss:GetObject", "oss:PutObject")
# (RAM service code, eventName) -> RAM actions, where the event name is not the action.
EXCEPTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("oss", "GetService"): ("oss:ListBuckets",),
    ("oss", "GetBucket"): ("oss:ListObjects",),
    ("oss", "ListObjectsV2"): ("oss:ListObjects",),
    ("oss", "AppendObject"): _PUT,
    ("oss", "PostObject"): _PUT,
    ("oss", "InitiateMultipartUpload"): _PUT,
    ("oss", "InitateMultipartUpload"): _PUT,
    ("oss", "UploadPart"): _PUT,
    ("oss", "CompleteMultipartUpload"): _PUT,
    ("oss", "UploadPartCopy"): _COPY,
    ("oss", "UplaodPartCopy"): _COPY,
    ("oss", "CopyObject"): _COPY,
    ("oss", "CopyObjects"): _COPY,
    ("oss", "HeadObject"): _GET,
    ("oss", "GetObjectMeta"): _GET,
    ("oss", "GetObjects"): _GET,
    ("oss", "DeleteMultipleObjects"): ("oss:DeleteObject",),
}


# Events that record one resource while one of their actions is checked on another: a copy names its
# target, but reads its source (`oss:GetObject` on the copy source). That action is never scoped to the
# event's resource — it falls back to what the agreement granted it on.
ON_ANOTHER_RESOURCE: dict[tuple[str, str], frozenset[str]] = {
    ("oss", name): frozenset({"oss:GetObject"})
    for name in ("CopyObject", "CopyObjects", "UploadPartCopy", "UplaodPartCopy")
}


def service_code(service_name: str) -> str:
    code = service_name.strip().lower()
    return SERVICE_CODES.get(code, code)


def ram_actions(service_name: object, event_name: object) -> tuple[str, ...]:
    """The RAM actions a call recorded as (serviceName, eventName) needed; () if the event names none."""
    if not isinstance(service_name, str) or not isinstance(event_name, str):
        return ()
    code, name = service_code(service_name), event_name.strip()
    if not code or not name or not code.replace("-", "").isalnum() or not name.isalnum():
        return ()  # console sign-ins and the like are no RAM action
    return EXCEPTIONS.get((code, name), (f"{code}:{name}",))


def on_the_event_resource(service_name: object, event_name: object, action: str) -> bool:
    """False when `action`, needed by this call, is checked on another resource than the one the event names."""
    if not isinstance(service_name, str) or not isinstance(event_name, str):
        return False
    return action not in ON_ANOTHER_RESOURCE.get((service_code(service_name), event_name.strip()), frozenset())
