"""One markdown table from oauth-load.sh outputs: Tessera's rows beside the peer's.

Usage: table.py TESSERA.md... PEER.md (the last file is the peer's run.sh output).
Each Tessera row is matched to the peer's row of the same kind and concurrency: /jwks with
/jwks, every client_credentials row with the peer's RS256 client_credentials row (the EdDSA
goal is stated against the peer's RS256 figure), introspection with introspection, the
rotating refresh_token grant with the peer's (both sign with EdDSA there).
"""

import re
import sys


def rows(path):
    out = []
    for line in open(path, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 14 or not cells[1].isdigit():
            continue
        out.append(cells)
    return out


def kind(name):
    if "flood" in name:
        return None
    if "/jwks" in name:
        return "jwks"
    if "client_credentials" in name:
        return "token"
    if "introspect" in name:
        return "introspection"
    if "refresh_token" in name:
        return "refresh"
    return None


def main():
    *ours, peer_path = sys.argv[1:]
    peer = {(kind(r[0]), r[1]): r for r in rows(peer_path)}
    print(
        "| scenario | conc | req/s | p50 | p99 | errors | server CPU | CPU/req | RSS "
        "| peer req/s | peer p99 | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in ours:
        for r in rows(path):
            name, conc, rps, p50, _p90, p99, _max, non2xx, sock, cpu = r[:10]
            rss = r[13] if len(r) > 13 else ""
            errors = int(non2xx) + int(sock)
            cpu_pct = float(cpu.rstrip("%") or 0)
            per_req = cpu_pct / 100 / max(float(rps), 1) * 1e6
            p = peer.get((kind(name), conc))
            if p:
                ratio = f"{float(rps) / max(float(p[2]), 1):.1f}×"
                peer_rps, peer_p99 = p[2], p[5]
            else:
                ratio, peer_rps, peer_p99 = "–", "–", "–"
            print(
                f"| {name} | {conc} | {rps} | {p50} | {p99} | {errors} | {cpu} "
                f"| {per_req:.0f} µs | {rss} | {peer_rps} | {peer_p99} | {ratio} |"
            )
    for r in rows(peer_path):
        print(
            f"| peer: {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[5]} | {int(r[7]) + int(r[8])} "
            f"| {r[9]} | {float(r[9].rstrip('%') or 0) / 100 / max(float(r[2]), 1) * 1e6:.0f} µs "
            f"| {r[13] if len(r) > 13 else ''} | | | |"
        )
    for path in ours + [peer_path]:
        for line in open(path, encoding="utf-8"):
            m = re.search(r"<!-- (.*memory.*) -->", line)
            if m:
                print(f"\n{m.group(1)}")


if __name__ == "__main__":
    main()
