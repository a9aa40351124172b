"""The resources an ActionTrail event names, as the RAM ARNs a policy's Resource would use.

ActionTrail puts them in `resourceType` and `resourceName` (fields added on 2020-12-16):
names of one type are separated by commas, groups of different types by semicolons, in the
same order as their types — `ACS::ECS::Instance;ACS::ECS::Disk` with `i-1,i-2;d-1`
(ActionTrail announcement "new fields in event logs"). A type maps to an ARN by the ARN
forms of the service's RAM documentation:

    ACS::ECS::Instance      acs:ecs:<region>:<account>:instance/<id>     (ECS authorization rules)
    ACS::ECS::Disk          acs:ecs:<region>:<account>:disk/<id>
    ACS::ECS::SecurityGroup acs:ecs:<region>:<account>:securitygroup/<id>
    ACS::ECS::Image         acs:ecs:<region>:<account>:image/<id>
    ACS::ECS::Snapshot      acs:ecs:<region>:<account>:snapshot/<id>
    ACS::OSS::Bucket        acs:oss:*:<account>:<bucket>                  (OSS RAM policy reference)
    ACS::OSS::Object        acs:oss:*:<account>:<bucket>/<object>

`<region>` is the event's `acsRegion`, `<account>` the owner account (the agreement's, which
rolepact controls, not a field of the event). An OSS object action (`oss:GetObject`,
`oss:PutObject`, multipart, ACLs and tags of objects) authorizes on objects, so when the event
names only the bucket its ARN is `<bucket>/*`. Anything else — an unknown type, names and
types that do not pair up, a name with characters no ARN takes — yields None: the event
names no resource rolepact can scope to, and the proposal falls back to what was granted.
"""
from __future__ import annotations

import re

ARN_FORMS = {
    "ACS::ECS::Instance": "acs:ecs:{region}:{account}:instance/{name}",
    "ACS::ECS::Disk": "acs:ecs:{region}:{account}:disk/{name}",
    "ACS::ECS::SecurityGroup": "acs:ecs:{region}:{account}:securitygroup/{name}",
    "ACS::ECS::Image": "acs:ecs:{region}:{account}:image/{name}",
    "ACS::ECS::Snapshot": "acs:ecs:{region}:{account}:snapshot/{name}",
    "ACS::OSS::Bucket": "acs:oss:*:{account}:{name}",
    "ACS::OSS::Object": "acs:oss:*:{account}:{name}",
}
_KEY = {key.lower(): form for key, form in ARN_FORMS.items()}
_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+){1,3}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,254}")


def is_object_action(action: str) -> bool:
    service, _, name = action.partition(":")
    return service.lower() == "oss" and (("Object" in name and not name.startswith("ListObject"))
                                         or "Multipart" in name or name in ("ListParts", "GetSymlink", "PutSymlink"))


def event_resources(event: dict, account_id: str, action: str = "") -> tuple[str, ...] | None:
    """The ARNs of the resources `event` names for `action` (sorted), or None when it names none
    rolepact can use."""
    kinds, names = event.get("resourceType"), event.get("resourceName")
    if not isinstance(kinds, str) or not isinstance(names, str) or not kinds.strip() or not names.strip():
        return None
    region = event.get("acsRegion")
    types, groups = [t.strip() for t in kinds.split(";")], [g.strip() for g in names.split(";")]
    if len(types) != len(groups):
        return None  # cannot tell which name is of which type
    found: set[str] = set()
    for kind, group in zip(types, groups):
        form = _KEY.get(kind.lower())
        if form is None or ("{region}" in form and not (isinstance(region, str) and _REGION.fullmatch(region))):
            return None
        for name in (n.strip() for n in group.split(",")):
            if not _NAME.fullmatch(name) or ".." in name or "*" in name:
                return None
            arn = form.format(region=region, account=account_id, name=name)
            if kind.lower() == "acs::oss::bucket" and is_object_action(action):
                arn += "/*"
            found.add(arn)
    return tuple(sorted(found)) or None
