"""Parses FHIR JSON resources with an independent implementation (the `fhir.resources`
package's R4B pydantic models) and fails when any of them is not valid.

Usage: fhir_validate.py DIR   -- every *.json file in DIR holds one resource.
Exit status 0 when all parse, 1 otherwise (each failure is printed with its file name).
"""

import json
import pathlib
import sys

from fhir.resources.R4B import get_fhir_model_class


def main() -> int:
    directory = pathlib.Path(sys.argv[1])
    files = sorted(directory.glob("*.json"))
    if not files:
        print(f"no resources in {directory}", file=sys.stderr)
        return 1
    failures = 0
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        try:
            model = get_fhir_model_class(data["resourceType"])
            model.parse_obj(data)
        except Exception as error:  # any failure of the independent parser counts
            failures += 1
            print(f"{path.name}: {error}", file=sys.stderr)
    print(f"{len(files) - failures}/{len(files)} resources valid")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
