"""Checks DSSE envelopes of in-toto statements with the in-toto reference implementation.

Usage: check.py PUBLIC_KEY.pem ENVELOPE.json...

Each envelope is verified by securesystemslib (dsse.Envelope.verify, the key given the empty
keyid the envelopes carry, as cosign writes them), its payload parsed strictly as an in-toto
Statement v1 (in-toto-attestation's protobuf bindings: unknown fields are errors) and validated
(Statement.validate); a SLSA provenance v1 predicate is parsed strictly as the Provenance
message and its required fields checked. Prints one JSON object per envelope; exits 1 with a
one-line reason on the first failure.
"""

import json
import sys

from cryptography.hazmat.primitives import serialization
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def fail(msg):
    print(f"in-toto check: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    pem, files = sys.argv[1], sys.argv[2:]
    public = serialization.load_pem_public_key(open(pem, "rb").read())
    key = SSlibKey.from_crypto(public, scheme="ecdsa-sha2-nistp256")
    # The envelopes carry an empty keyid (as cosign writes them); securesystemslib matches
    # signatures to keys by keyid, so the key gets the same.
    key = SSlibKey("", key.keytype, key.scheme, key.keyval)
    for f in files:
        try:
            env = Envelope.from_dict(json.load(open(f)))
            env.verify([key], 1)
        except Exception as e:  # securesystemslib raises several kinds
            fail(f"{f}: envelope does not verify: {type(e).__name__}: {e}")
        if env.payload_type != "application/vnd.in-toto+json":
            fail(f"{f}: payload type {env.payload_type}")
        try:
            pb = json_format.Parse(env.payload, statement_pb2.Statement())
            Statement.copy_from_pb(pb).validate()
        except Exception as e:
            fail(f"{f}: not a valid in-toto Statement v1: {e}")
        out = {
            "file": f,
            "predicate_type": pb.predicate_type,
            "subjects": [
                {"name": s.name, "sha256": s.digest["sha256"]} for s in pb.subject
            ],
        }
        predicate = json.loads(env.payload)["predicate"]
        if pb.predicate_type == "https://slsa.dev/provenance/v1":
            try:
                p = json_format.ParseDict(predicate, provenance_pb2.Provenance())
            except Exception as e:
                fail(f"{f}: not a SLSA provenance v1 predicate: {e}")
            bd, rd = p.build_definition, p.run_details
            if not bd.build_type or not rd.builder.id:
                fail(f"{f}: provenance without buildType or builder.id")
            if not bd.HasField("external_parameters"):
                fail(f"{f}: provenance without externalParameters")
            for dep in list(bd.resolved_dependencies) + list(rd.byproducts):
                try:
                    ResourceDescriptor.copy_from_pb(dep).validate()
                except Exception as e:
                    fail(f"{f}: a resource descriptor is invalid: {e}")
            out["builder"] = rd.builder.id
            out["build_type"] = bd.build_type
            out["resolved"] = [
                {"name": d.name, "uri": d.uri, "digest": dict(d.digest)}
                for d in bd.resolved_dependencies
            ]
            out["byproducts"] = [
                {"name": d.name, "digest": dict(d.digest)} for d in rd.byproducts
            ]
        print(json.dumps(out))


main()
