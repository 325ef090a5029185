"""Puts the mirror-feed fixtures' entries into fixtures/manifest.json and their README sections.

fixtures/manifest.json is written by these tools in turn: scenarios.py (recordings), derive.py
(derived rewrites), wifi.py (802.11 rewrites), tunnels.py (kernel-recorded VXLAN and fragment
captures), kernel_tunnels.py (the other tunnels, recorded in a QEMU guest), encapsulate.py
(generated encapsulations), checksums.py (checksum decoys) and decoys.py (lab captures with crafted
decoys injected). Each tool from wifi.py on owns a fixed list of pcap names and a slot in that
order, after everything else: merge() drops the manifest's entries with the tool's names and puts
its new ones in its slot, and entries of the other slots stay in theirs, keeping the file's layout
(derive.write_manifest). scenarios.py and derive.py keep entries they do not own, so rerunning
them loses nothing and moves nothing.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import derive  # noqa: E402

ORDER = ("scripts/record-fixtures.d/wifi.py", "scripts/record-fixtures.d/tunnels.py",
         "scripts/record-fixtures.d/kernel_tunnels.py", "scripts/record-fixtures.d/encapsulate.py",
         "scripts/record-fixtures.d/checksums.py", "scripts/record-fixtures.d/decoys.py")
# the tools whose entries say "generated from SOURCE by TOOL"; the others' tables name their captures
GENERATORS = (ORDER[0], ORDER[3], ORDER[4], ORDER[5])
OWNER_KEY = "_owner"   # in memory only, never written


def owner_of(entry):
    """The tool from ORDER an entry belongs to (from its client or its table), or None."""
    c = entry.get("client", "")
    for tool in GENERATORS:
        if c.startswith("generated from ") and c.endswith(" by " + tool):
            return tool
    import collections
    import tunnels   # noqa: E402  (its table names its captures)
    import kernel_tunnels   # noqa: E402
    for tool, mod in ((ORDER[1], tunnels), (ORDER[2], kernel_tunnels)):
        if entry["pcap"] in {t.name + ".pcap" for t in mod.table(collections.defaultdict(str))}:
            return tool
    return None


def merge(tool, new_entries, keep):
    """Replace the entries named in keep (this tool's whole table) by new_entries."""
    path, text, manifest = derive.load_manifest()
    owned = set(keep)
    others = [e for e in manifest["fixtures"] if e["pcap"] not in owned]
    slot = ORDER.index(tool)
    before = [e for e in others if owner_of(e) is None or ORDER.index(owner_of(e)) < slot]
    after = [e for e in others if owner_of(e) is not None and ORDER.index(owner_of(e)) > slot]
    derive.write_manifest(path, text, before + list(new_entries) + after)


def replace_section(title, body):
    """Replace README section `## title` (up to the next `## ` heading) with body, or append it."""
    path = os.path.join(derive.FIXTURES, "README.md")
    with open(path, encoding="utf-8") as f:
        lines = f.read().rstrip("\n").split("\n")
    head = "## " + title
    new = [head, ""] + body.rstrip("\n").split("\n")
    if head in lines:
        i = lines.index(head)
        j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
        out = lines[:i] + new + ([""] + lines[j:] if j < len(lines) else [])
    else:
        out = lines + [""] + new
    with open(path + ".new", "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    os.replace(path + ".new", path)


def tunnel_summary(a):
    t = a.get("tunnel")
    if not t:
        return ""
    ids = [f"{k}={v if not isinstance(v, list) else ','.join(map(str, v))}" for k, v in t.items()
           if k not in ("type", "src_ip", "dest_ip", "layers")]
    ep = f" {t['src_ip']}->{t['dest_ip']}" if "src_ip" in t else ""
    return f" tunnel={t['type']}{ep} {' '.join(ids)} layers={'/'.join(t['layers'])}".rstrip()


def readme_rows(entries, how):
    import tunnelwire   # noqa: E402
    rows = ["| pcap | alerts | args | " + how + " | description |", "|---|---|---|---|---|"]
    for e in entries:
        size = os.path.getsize(os.path.join(derive.FIXTURES, e["pcap"]))
        alerts = "; ".join(derive.alert_summary(a) + tunnel_summary(a) for a in e["expected"]) or "none"
        desc = e["description"].replace("|", "\\|")
        rows.append(f"| `{e['pcap']}` ({len(tunnelwire.read_pcap(os.path.join(derive.FIXTURES, e['pcap']))[1])} pkts, {size} B) | {alerts} | {' '.join(e['args'])} | "
                    f"{e['client'].replace('|', chr(92) + '|')} | {desc} |")
    return "\n".join(rows) + "\n"

