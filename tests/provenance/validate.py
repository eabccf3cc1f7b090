"""Validates the documents bimanix attaches to an image with the real
validators: a CycloneDX SBOM with cyclonedx-python-lib's strict JSON schema
validator, an in-toto statement with in-toto-attestation's Statement
(parsed strictly into its protobuf, so an unknown or misspelt field fails,
then validate()) and its SLSA provenance v1 predicate parsed strictly into
the Provenance protobuf of the same package, plus a JSON schema of the
fields SLSA v1 requires, checked with jsonschema.

Usage: validate.py cyclonedx FILE | validate.py slsa FILE
Prints "valid" or the errors; exit 1 when invalid.
"""
import json
import sys


def cyclonedx(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    with open(path) as f:
        text = f.read()
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if not error:
        return []
    # The jsonschema error's message, without the whole schema.
    data = getattr(error, "data", None)
    return [f"{getattr(data, 'message', error)} at {list(getattr(data, 'path', []))}"]


# What SLSA provenance v1 requires (slsa.dev/spec/v1.0/provenance): the
# protobuf parse checks the field names and types, this the required ones.
SLSA_REQUIRED = {
    "type": "object",
    "required": ["buildDefinition", "runDetails"],
    "properties": {
        "buildDefinition": {
            "type": "object",
            "required": ["buildType", "externalParameters"],
            "properties": {
                "buildType": {"type": "string", "minLength": 1},
                "externalParameters": {"type": "object"},
                "resolvedDependencies": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "anyOf": [{"required": ["uri"]}, {"required": ["digest"]}, {"required": ["content"]}],
                    },
                },
            },
        },
        "runDetails": {
            "type": "object",
            "required": ["builder"],
            "properties": {"builder": {"type": "object", "required": ["id"]}},
        },
    },
}


def slsa(path):
    import google.protobuf.json_format as pb_json
    import jsonschema
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    with open(path) as f:
        text = f.read()
    errors = []
    try:
        proto = pb_json.Parse(text, statement_pb2.Statement(), ignore_unknown_fields=False)
        Statement.copy_from_pb(proto).validate()
    except Exception as e:  # noqa: BLE001 - report whatever the validator says
        errors.append(f"statement: {e}")
    doc = json.loads(text)
    if doc.get("predicateType") != "https://slsa.dev/provenance/v1":
        errors.append(f"predicateType is {doc.get('predicateType')!r}")
    predicate = doc.get("predicate", {})
    try:
        pb_json.Parse(json.dumps(predicate), provenance_pb2.Provenance(), ignore_unknown_fields=False)
    except Exception as e:  # noqa: BLE001
        errors.append(f"predicate: {e}")
    for e in jsonschema.Draft202012Validator(SLSA_REQUIRED).iter_errors(predicate):
        errors.append(f"predicate: {e.message} at {list(e.path)}")
    return errors


def main():
    kind, path = sys.argv[1], sys.argv[2]
    errors = {"cyclonedx": cyclonedx, "slsa": slsa}[kind](path)
    if errors:
        print("\n".join(errors))
        sys.exit(1)
    print("valid")


main()
