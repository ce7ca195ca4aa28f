#!/usr/bin/env python3
# NOTICE: the service models this script reads are part of botocore
# (https://github.com/boto/botocore), Copyright Amazon.com, Inc. or its affiliates,
# licensed under the Apache License, Version 2.0. The trimmed copies it writes
# (crates/keyward-protocol/models/*.json) are derived from them under that license.
"""Write a trimmed copy of a botocore service model: the wire spec without the prose.

Usage: scripts/trim-model.py <service> <out> [--operations Op1,Op2,...]
  e.g. scripts/trim-model.py kms crates/keyward-protocol/models/kms.json
       scripts/trim-model.py sts crates/keyward-protocol/models/sts.json \
           --operations GetCallerIdentity,AssumeRole

With --operations, only the listed operations are kept, and only the shapes they reach
(inputs, outputs and errors, followed through members, list members and map keys and
values). The IAM model is large; Keyward serves a part of it, and an operation left out of
the model is answered as AWS answers an unknown action.

The model is read from the installed botocore (pip install botocore), newest API version.
Kept: metadata; each operation's name, http, input, output and errors; each shape's type,
members (with their shape and serialization traits), list member, map key and value, and
its constraints (required, min, max, enum, pattern, sensitive, box, timestampFormat) and
error information. Dropped: documentation, examples and everything else.
"""

import gzip
import json
import os
import sys

OPERATION_KEYS = ("name", "http", "input", "output", "errors")
SHAPE_KEYS = (
    "type", "members", "member", "key", "value", "required", "min", "max", "enum",
    "pattern", "sensitive", "box", "timestampFormat", "error", "exception", "fault",
    "flattened", "xmlNamespace", "locationName",
)
REF_KEYS = (
    "shape", "box", "timestampFormat", "idempotencyToken", "jsonvalue", "location",
    "locationName", "queryName", "flattened", "xmlNamespace", "xmlAttribute", "resultWrapper",
)


def model_path(service):
    import botocore

    base = os.path.join(os.path.dirname(botocore.__file__), "data", service)
    if not os.path.isdir(base):
        sys.exit(f"botocore has no model for {service!r}")
    version = sorted(os.listdir(base))[-1]
    for name in ("service-2.json.gz", "service-2.json"):
        path = os.path.join(base, version, name)
        if os.path.exists(path):
            return path
    sys.exit(f"no service-2.json under {base}/{version}")


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def pick(obj, keys):
    return {k: obj[k] for k in keys if k in obj}


def trim_ref(ref):
    return pick(ref, REF_KEYS)


def trim_shape(shape):
    out = pick(shape, SHAPE_KEYS)
    if "members" in out:
        out["members"] = {name: trim_ref(ref) for name, ref in out["members"].items()}
    for key in ("member", "key", "value"):
        if key in out:
            out[key] = trim_ref(out[key])
    return out


def trim_operation(op):
    out = pick(op, OPERATION_KEYS)
    for key in ("input", "output"):
        if key in out:
            out[key] = trim_ref(out[key])
    if "errors" in out:
        out["errors"] = [trim_ref(e) for e in out["errors"]]
    return out


def reachable(model, operations):
    """The names of the shapes the operations reach, in the model's order."""
    seen = set()
    stack = []
    for name in operations:
        op = model["operations"][name]
        stack.extend(op[key]["shape"] for key in ("input", "output") if key in op)
        stack.extend(error["shape"] for error in op.get("errors", []))
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = model["shapes"][name]
        stack.extend(shape[key]["shape"] for key in ("member", "key", "value") if key in shape)
        stack.extend(ref["shape"] for ref in shape.get("members", {}).values())
    return [name for name in model["shapes"] if name in seen]


def trim(model, operations=None):
    if operations is None:
        operations = list(model["operations"])
        shapes = list(model["shapes"])
    else:
        unknown = [name for name in operations if name not in model["operations"]]
        if unknown:
            sys.exit(f"not in the model: {', '.join(unknown)}")
        # Model order, whatever the order on the command line.
        operations = [name for name in model["operations"] if name in operations]
        shapes = reachable(model, operations)
    return {
        "version": model.get("version", "2.0"),
        "metadata": model["metadata"],
        "operations": {n: trim_operation(model["operations"][n]) for n in operations},
        "shapes": {n: trim_shape(model["shapes"][n]) for n in shapes},
    }


def main(argv):
    args = argv[1:]
    operations = None
    if "--operations" in args:
        at = args.index("--operations")
        if at + 1 >= len(args):
            sys.exit(__doc__)
        operations = [name for name in args[at + 1].split(",") if name]
        del args[at:at + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    service, out = args
    trimmed = trim(load(model_path(service)), operations)
    with open(out, "w", encoding="utf-8") as f:
        # One entry per line keeps diffs readable when botocore updates the model.
        f.write("{\n")
        sections = []
        for section in ("version", "metadata"):
            sections.append(f"{json.dumps(section)}:{json.dumps(trimmed[section], separators=(',', ':'))}")
        for section in ("operations", "shapes"):
            entries = ",\n".join(
                f"  {json.dumps(name)}:{json.dumps(value, separators=(',', ':'))}"
                for name, value in trimmed[section].items()
            )
            sections.append(f"{json.dumps(section)}:{{\n{entries}\n}}")
        f.write(",\n".join(sections))
        f.write("\n}\n")


if __name__ == "__main__":
    main(sys.argv)
