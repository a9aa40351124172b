"""Every object rolepact reads or writes is checked against the CRC-64 OSS reports
(`shared/gateways/oss.py: check_crc64`). [D] OSS "Check data integrity by using CRC-64":
PutObject returns `x-oss-hash-crc64ecma`, GetObject and HeadObject return the object's,
computed per ECMA-182 (CRC-64/XZ); objects without one (uploaded before CRC-64 support, some
copies) return none, and rolepact then skips the check."""
from __future__ import annotations

from shared.gateways.oss import crc64

CRC_DOC = "help/en/oss/user-guide/check-data-transmission-integrity-by-using-crc-64"


def test_put_get_and_head_report_the_crc64_rolepact_computes(owner, build, observe):
    bucket = build.bucket(owner, "crc")
    payload = '{"agreementId": "crc-check", "note": "报告 ✓"}'.encode()
    put = bucket.put_object("status/crc-check.json", payload)
    got = bucket.get_object("status/crc-check.json")
    body = got.read()
    head = bucket.head_object("status/crc-check.json")
    observe("x-oss-hash-crc64ecma of PutObject / GetObject / HeadObject vs rolepact's crc64()",
            [put.crc, got.server_crc, head.server_crc, crc64(payload)], CRC_DOC)
    assert body == payload
    assert put.crc == got.server_crc == head.server_crc == crc64(payload)
