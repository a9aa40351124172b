"""The conformance suite's event sink: an FC function that stores every event it receives in OSS.

Deployed by the suite with FC 3.0's CreateFunction (the code package holds this package's
`__init__.py` and this file, handler `conformance.sink.handler`), so the same test reads what
real OSS triggers and EventBridge deliver and what the fake delivers. It writes to the bucket
named like the function, under `sink/`, through the region's internal endpoint — configuration
comes from the context, which both FC and the fake provide (the fake runs handlers in its own
process and cannot set their environment variables). Nothing here imports the harness: FC's
python3.10 runtime has only oss2.
"""
import os
import uuid


def handler(event, context):
    import oss2

    creds = getattr(context, "credentials", None)
    if creds is not None and getattr(creds, "access_key_id", None):
        auth = oss2.StsAuth(creds.access_key_id, creds.access_key_secret, creds.security_token)
    else:  # runtimes that pass the function role's credentials in the environment
        auth = oss2.StsAuth(os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"], os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
                            os.environ["ALIBABA_CLOUD_SECURITY_TOKEN"])
    bucket = oss2.Bucket(auth, f"https://oss-{context.region}-internal.aliyuncs.com", context.function.name)
    body = event if isinstance(event, bytes) else str(event).encode("utf-8")
    bucket.put_object(f"sink/{uuid.uuid4().hex}.json", body)
    return "stored"
