"""Parses FHIR resources with an independent implementation (the `fhir.resources` package's
R4B pydantic models) and fails when any of them is not valid.

Usage: fhir_validate.py DIR   -- every *.json file in DIR holds one FHIR JSON resource, every
*.xml file one FHIR XML resource (https://hl7.org/fhir/R4/xml.html).
Exit status 0 when all parse, 1 otherwise (each failure is printed with its file name).

       fhir_validate.py --orders FILE   -- FILE holds the server's element-order table as JSON
[[type, base, [element, ...]], ...]; each type's order must be the one `fhir.resources`
models give it (choices `name[x]` stand for all their typed names).

An XML resource must also have its elements in the schema's order: the parser does not check
order, so the element sequence is compared with the one `fhir.resources` writes for the same
model (its writer follows the StructureDefinition order). Needs `fhir.resources[xml]` (lxml).
"""

import json
import pathlib
import sys

from fhir.resources.R4B import get_fhir_model_class

FHIR_NS = "{http://hl7.org/fhir}"


def element_sequence(xml: bytes) -> list[str]:
    """The FHIR element names in document order (the narrative's XHTML left out)."""
    from lxml import etree

    root = etree.fromstring(xml)
    return [
        element.tag[len(FHIR_NS):]
        for element in root.iter()
        if isinstance(element.tag, str) and element.tag.startswith(FHIR_NS)
    ]


def check_xml(path: pathlib.Path) -> None:
    from lxml import etree

    raw = path.read_bytes()
    root = etree.fromstring(raw)
    if not root.tag.startswith(FHIR_NS):
        raise ValueError(f"root element {root.tag} is not in the FHIR namespace")
    model = get_fhir_model_class(root.tag[len(FHIR_NS):])
    parsed = model.parse_raw(raw, content_type="text/xml")
    ours = element_sequence(raw)
    theirs = element_sequence(parsed.xml().encode("utf-8"))
    if ours != theirs:
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if a != b:
                raise ValueError(
                    f"element order differs from the schema's at element {i}: "
                    f"{a} where {b} belongs ({ours[max(0, i - 3):i + 3]})"
                )
        raise ValueError(f"element count differs: {len(ours)} against {len(theirs)}")


BASES = {
    "DomainResource": ["id", "meta", "implicitRules", "language", "text", "contained",
                       "extension", "modifierExtension"],
    "Resource": ["id", "meta", "implicitRules", "language"],
    # (An element's id is an XML attribute; the models list it first all the same.)
    "BackboneElement": ["id", "extension", "modifierExtension"],
    "Element": ["id", "extension"],
}


def model_class(type_name: str):
    """The R4B model of a resource, data type or backbone element (`Patient.contact`)."""
    import importlib

    parts = type_name.split(".")
    root = parts[0]
    module = importlib.import_module("fhir.resources.R4B." + root.lower())
    return getattr(module, "".join(p[0].upper() + p[1:] for p in parts))


def check_orders(path: pathlib.Path) -> int:
    failures = 0
    table = json.loads(path.read_text(encoding="utf-8"))
    for type_name, base, own in table:
        ours = BASES[base] + own
        theirs = []
        for name in model_class(type_name).elements_sequence():
            stem = next((o for o in own if o.endswith("[x]") and name.startswith(o[:-3])
                         and name[len(o) - 3:][:1].isupper()), None)
            if type_name == "Extension" and name == "url":
                continue  # an attribute in XML; the table leaves it out
            if stem is None:
                theirs.append(name)
            elif stem not in theirs:
                theirs.append(stem)
        if ours != theirs:
            failures += 1
            print(f"{type_name}: ours {ours}\n  fhir.resources {theirs}", file=sys.stderr)
    print(f"{len(table) - failures}/{len(table)} element orders agree")
    return 1 if failures else 0


def main() -> int:
    if sys.argv[1] == "--orders":
        return check_orders(pathlib.Path(sys.argv[2]))
    directory = pathlib.Path(sys.argv[1])
    files = sorted(directory.glob("*.json")) + sorted(directory.glob("*.xml"))
    if not files:
        print(f"no resources in {directory}", file=sys.stderr)
        return 1
    failures = 0
    for path in files:
        try:
            if path.suffix == ".xml":
                check_xml(path)
            else:
                data = json.loads(path.read_text(encoding="utf-8"))
                model = get_fhir_model_class(data["resourceType"])
                model.parse_obj(data)
        except Exception as error:  # any failure of the independent parser counts
            failures += 1
            print(f"{path.name}: {error}", file=sys.stderr)
    print(f"{len(files) - failures}/{len(files)} resources valid")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
