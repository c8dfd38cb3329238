"""Rebuild the synthetic generator's frequency tables from public sources.

Run from this folder with the two PyPI packages unpacked next to it:
    pip download --no-deps -d /tmp/src names==0.3.0 zipcodes==3.0.0
    (unpack names-0.3.0.tar.gz and the zipcodes wheel into /tmp/src)
    python3 make_tables.py /tmp/src/names-0.3.0/names /tmp/src/zc

Sources (see README.md): US Census 1990 name frequency files as shipped by the `names`
package (public-domain census data), and the ZIP code list of the `zipcodes` package (MIT).
"""

import sys

NAMES_DIR, ZIPCODES_DIR = sys.argv[1], sys.argv[2]

# Census files are upper case without punctuation; restore the common written forms.
SPECIAL = {
    "OBRIEN": "O'Brien", "OCONNOR": "O'Connor", "ONEIL": "O'Neil", "ONEILL": "O'Neill",
    "ODONNELL": "O'Donnell", "OCONNELL": "O'Connell", "OKEEFE": "O'Keefe",
    "OMALLEY": "O'Malley", "OHARA": "O'Hara", "OROURKE": "O'Rourke", "OLEARY": "O'Leary",
    "OSULLIVAN": "O'Sullivan", "OBRYANT": "O'Bryant", "ODONNELL": "O'Donnell",
    "DELACRUZ": "De La Cruz", "DEJESUS": "De Jesus", "DELEON": "De Leon",
    "DELAROSA": "De La Rosa", "DELATORRE": "De La Torre", "DELAGARZA": "De La Garza",
    "VANBUREN": "Van Buren", "VANDYKE": "Van Dyke", "VANHORN": "Van Horn",
    "VANDERBERG": "Van der Berg", "VANDERPOOL": "Vanderpool", "DEANGELO": "D'Angelo",
    "DAMICO": "D'Amico", "MACDONALD": "MacDonald", "MACKENZIE": "MacKenzie",
    "STJOHN": "St. John", "STPIERRE": "St. Pierre", "STCLAIR": "St. Clair",
}


def title(raw):
    if raw in SPECIAL:
        return SPECIAL[raw]
    name = raw.capitalize()
    if name.startswith("Mc") and len(name) > 3:
        name = "Mc" + name[2:].capitalize()
    return name


def weight(percent, scale):
    return max(1, round(float(percent) * scale))


def census(path, limit, scale, out):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4:
                continue
            rows.append((title(parts[0]), weight(parts[1], scale)))
    with open(out, "w") as f:
        f.write("# name,weight (US Census 1990; weight = percent of population x %d)\n" % scale)
        for name, w in rows[:limit]:
            f.write("%s,%d\n" % (name, w))


census(NAMES_DIR + "/dist.all.last", 20000, 4000, "surnames.csv")
census(NAMES_DIR + "/dist.female.first", 100000, 1000, "given_female.csv")
census(NAMES_DIR + "/dist.male.first", 100000, 1000, "given_male.csv")

sys.path.insert(0, ZIPCODES_DIR)
import zipcodes  # noqa: E402

zips = [
    z for z in zipcodes.list_all()
    if z["zip_code_type"] == "STANDARD" and z["active"] and z["area_codes"]
    and z["state"] not in ("PR", "VI", "GU", "AS", "MP")
]
zips.sort(key=lambda z: z["zip_code"])
with open("zipcodes.csv", "w") as f:
    f.write("# zip,city,state,area_code (every third active standard ZIP of the zipcodes package)\n")
    for z in zips[::3]:
        f.write("%s,%s,%s,%s\n" % (z["zip_code"], z["city"], z["state"], z["area_codes"][0]))
