#!/usr/bin/env python3
"""What can be checked about the flake without evaluating it (no Nix evaluation or builds here).

    python3 scripts/nix/check_flake.py [REPO]     check REPO (default: the current directory)
    python3 scripts/nix/check_flake.py --self-test

1. flake.lock is lock format 7 and matches flake.nix: the root node's inputs are exactly the
   flake's inputs; each input's node has `original` equal to its URL (github:OWNER/REPO[/REF]),
   a complete `locked` entry (rev of 40 hex digits, sha256 narHash, lastModified) for the same
   repository, `flake: false` where the flake says so, and `follows` written as arrays that
   match the flake's `inputs.X.follows`; no node is left unreferenced.
2. Every path literal in every tracked .nix file (./x, ../x) exists and is tracked by git.
3. One Rust version everywhere: rust-toolchain.toml's channel (X.Y.Z, with clippy, rustfmt and
   both musl targets) is what the flake reads (fromRustupToolchainFile), the Dockerfile's
   `ARG RUST_VERSION` default and every `RUST_TOOLCHAIN:` in .github/workflows/*.yml (each
   workflow that runs cargo must name it). Cargo.toml's rust-version (the oldest Rust the code
   builds with) must be at most the channel: rust-version <= toolchain.

--self-test runs the checks on temporary copies of this repository's files, unchanged (must
pass) and with one deliberate fault each (each must fail with the expected message).
"""
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HEX40 = re.compile(r"^[0-9a-f]{40}$")
NARHASH = re.compile(r"^sha256-[A-Za-z0-9+/]{43}=$")
MUSL_TARGETS = {"x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"}


# ---- a small reader for the part of Nix that flake.nix's `inputs` block uses ----

def strip_comments(text):
    """Nix source with # and /* */ comments blanked out (strings kept as they are)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("''", i):
            j = text.find("''", i + 2)
            while j != -1 and (text.startswith("'''", j) or text.startswith("''$", j) or text.startswith("''\\", j)):
                j = text.find("''", j + 3)
            j = n if j == -1 else j + 2
            out.append(text[i:j])
            i = j
        elif c == "#":
            j = text.find("\n", i)
            i = n if j == -1 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j == -1 else j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<id>[A-Za-z_][A-Za-z0-9_\'-]*)|(?P<op>[{}=;.]))')


def tokens(text, start):
    pos = start
    while True:
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            rest = text[pos:].strip()
            if rest:
                raise ValueError(f"flake.nix: cannot read the inputs block near: {rest[:40]!r}")
            return
        pos = m.end()
        if m.group("str") is not None:
            yield ("str", json.loads(m.group("str")))
        elif m.group("id") is not None:
            yield ("id", m.group("id"))
        else:
            yield ("op", m.group("op"))


def parse_set(toks):
    """`{ a.b = "x"; c = { ... }; d = false; }` (after the opening brace) as nested dicts."""
    result = {}
    for kind, value in toks:
        if (kind, value) == ("op", "}"):
            return result
        if kind not in ("id", "str"):
            raise ValueError(f"flake.nix inputs: unexpected {value!r}")
        path = [value]
        kind, value = next(toks)
        while (kind, value) == ("op", "."):
            path.append(next(toks)[1])
            kind, value = next(toks)
        if (kind, value) != ("op", "="):
            raise ValueError(f"flake.nix inputs: expected '=' after {'.'.join(path)}")
        kind, value = next(toks)
        if (kind, value) == ("op", "{"):
            value = parse_set(toks)
        elif kind == "id" and value in ("true", "false"):
            value = value == "true"
        elif kind != "str":
            raise ValueError(f"flake.nix inputs: {'.'.join(path)} must be a string, a boolean or a set")
        if next(toks) != ("op", ";"):
            raise ValueError(f"flake.nix inputs: expected ';' after {'.'.join(path)}")
        target = result
        for key in path[:-1]:
            target = target.setdefault(key, {})
        if isinstance(value, dict) and isinstance(target.get(path[-1]), dict):
            target[path[-1]].update(value)
        else:
            target[path[-1]] = value
    raise ValueError("flake.nix inputs: unterminated set")


def flake_inputs(flake_text):
    text = strip_comments(flake_text)
    m = re.search(r"(?m)^\s*inputs\s*=\s*\{", text)
    if not m:
        raise ValueError("flake.nix: no top-level `inputs = { ... };` block")
    return parse_set(tokens(text, m.end()))


def github_original(url):
    m = re.fullmatch(r"github:([^/]+)/([^/?]+)(?:/([^?]+))?", url)
    if not m:
        raise ValueError(f"input url {url!r}: only github:OWNER/REPO[/REF] URLs are supported here")
    original = {"owner": m.group(1), "repo": m.group(2), "type": "github"}
    if m.group(3):
        original["ref"] = m.group(3)
    return original


# ---- the checks ----

def check_lock(repo, problems):
    try:
        inputs = flake_inputs((repo / "flake.nix").read_text())
    except (OSError, ValueError, StopIteration) as e:
        problems.append(f"flake.nix: {e}")
        return
    try:
        lock = json.loads((repo / "flake.lock").read_text())
    except (OSError, ValueError) as e:
        problems.append(f"flake.lock: not valid JSON: {e}")
        return
    if lock.get("version") != 7:
        problems.append(f"flake.lock: version {lock.get('version')!r}, expected 7")
    nodes = lock.get("nodes", {})
    root_name = lock.get("root")
    root = nodes.get(root_name, {})
    if not root:
        problems.append(f"flake.lock: root node {root_name!r} missing")
        return
    root_inputs = root.get("inputs", {})
    if set(root_inputs) != set(inputs):
        problems.append(
            f"flake.lock: root inputs {sorted(root_inputs)} differ from flake.nix inputs {sorted(inputs)}"
        )
    referenced = {root_name}
    for name, spec in sorted(inputs.items()):
        if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
            problems.append(f"flake.nix: input {name} has no url")
            continue
        node_name = root_inputs.get(name)
        if not isinstance(node_name, str) or node_name not in nodes:
            problems.append(f"flake.lock: root input {name} points to no node ({node_name!r})")
            continue
        referenced.add(node_name)
        node = nodes[node_name]
        where = f"flake.lock node {node_name}"
        try:
            want = github_original(spec["url"])
        except ValueError as e:
            problems.append(f"flake.nix: {e}")
            continue
        if node.get("original") != want:
            problems.append(
                f"{where}: original {node.get('original')} does not match flake.nix url "
                f"{spec['url']!r} (expected {want}); Nix would treat the lock as stale"
            )
        locked = node.get("locked", {})
        if locked.get("type") != "github" or locked.get("owner") != want["owner"] or locked.get("repo") != want["repo"]:
            problems.append(f"{where}: locked {locked.get('owner')}/{locked.get('repo')} ({locked.get('type')}) is not {want['owner']}/{want['repo']} on github")
        if not HEX40.match(str(locked.get("rev", ""))):
            problems.append(f"{where}: locked rev {locked.get('rev')!r} is not 40 hex digits")
        if not NARHASH.match(str(locked.get("narHash", ""))):
            problems.append(f"{where}: locked narHash {locked.get('narHash')!r} is not a sha256 SRI hash")
        if not isinstance(locked.get("lastModified"), int):
            problems.append(f"{where}: locked lastModified missing")
        want_flake = spec.get("flake", True)
        if node.get("flake", True) != want_flake:
            problems.append(f"{where}: flake = {node.get('flake', True)} but flake.nix says flake = {want_flake}")
        follows = {
            sub: sub_spec["follows"]
            for sub, sub_spec in spec.get("inputs", {}).items()
            if isinstance(sub_spec, dict) and "follows" in sub_spec
        }
        node_inputs = node.get("inputs", {})
        for sub, target in sorted(follows.items()):
            got = node_inputs.get(sub)
            if got != target.split("/"):
                problems.append(
                    f"{where}: inputs.{sub} is {got!r}, expected the follows array {target.split('/')!r} "
                    f"(flake.nix: {name}.inputs.{sub}.follows = {target!r})"
                )
        for sub, got in sorted(node_inputs.items()):
            if sub in follows:
                continue
            if isinstance(got, list):
                problems.append(f"{where}: inputs.{sub} follows {got} but flake.nix declares no such follows")
            elif got not in nodes:
                problems.append(f"{where}: inputs.{sub} points to missing node {got!r}")
            else:
                referenced.add(got)
    for extra in sorted(set(nodes) - referenced):
        problems.append(f"flake.lock: node {extra} is not referenced by flake.nix's inputs")


PATH_LITERAL = re.compile(r"(?<![\w.$/-])(\.\.?/[A-Za-z0-9._+/-]*[A-Za-z0-9._+-])")


def blank_strings(text):
    """Nix source with comments removed and string contents blanked (paths inside strings
    are text, not path literals)."""
    text = strip_comments(text)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    return re.sub(r"''(?:[^']|'(?!')|'''|''\$|''\\)*''", "''''", text)


def check_paths(repo, problems):
    tracked = set(
        subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], check=True, capture_output=True, text=True)
        .stdout.split("\0")
    ) - {""}
    tracked_dirs = {str(Path(f).parent.joinpath("x").parent) for f in tracked}
    for f in list(tracked):
        parent = Path(f).parent
        while str(parent) != ".":
            tracked_dirs.add(str(parent))
            parent = parent.parent
    tracked_dirs.add(".")
    nix_files = sorted(f for f in tracked if f.endswith(".nix"))
    if "flake.nix" not in tracked:
        problems.append("flake.nix is not tracked by git (flakes see only tracked files)")
    for name in nix_files:
        text = blank_strings((repo / name).read_text())
        for m in PATH_LITERAL.finditer(text):
            literal = m.group(1)
            target = (repo / name).parent / literal
            try:
                rel = target.resolve().relative_to(repo.resolve())
            except ValueError:
                problems.append(f"{name}: path {literal} points outside the repository")
                continue
            rel_s = str(rel) if str(rel) != "" else "."
            if not target.exists():
                problems.append(f"{name}: path {literal} ({rel_s}) does not exist")
            elif rel_s not in tracked and rel_s not in tracked_dirs:
                problems.append(f"{name}: path {literal} ({rel_s}) is not tracked by git: a flake would not see it")


def version_tuple(text):
    return tuple(int(p) for p in text.split("."))


def check_rust_versions(repo, problems):
    try:
        toolchain = tomllib.loads((repo / "rust-toolchain.toml").read_text())["toolchain"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as e:
        problems.append(f"rust-toolchain.toml: {e}")
        return
    channel = str(toolchain.get("channel", ""))
    if not re.fullmatch(r"\d+\.\d+\.\d+", channel):
        problems.append(f"rust-toolchain.toml: channel {channel!r} is not an exact X.Y.Z release")
        return
    missing = {"clippy", "rustfmt"} - set(toolchain.get("components", []))
    if missing:
        problems.append(f"rust-toolchain.toml: components lack {sorted(missing)}")
    if not MUSL_TARGETS <= set(toolchain.get("targets", [])):
        problems.append(f"rust-toolchain.toml: targets must include {sorted(MUSL_TARGETS)}")

    nix_text = "".join(blank_strings(p.read_text()) for p in sorted((repo / "nix").glob("*.nix")))
    if "fromRustupToolchainFile ../rust-toolchain.toml" not in nix_text:
        problems.append("nix/: the flake does not build with rust-toolchain.toml (fromRustupToolchainFile ../rust-toolchain.toml)")

    cargo = tomllib.loads((repo / "Cargo.toml").read_text())
    rust_version = cargo.get("workspace", {}).get("package", {}).get("rust-version")
    if rust_version is None:
        problems.append("Cargo.toml: [workspace.package] has no rust-version")
    elif not re.fullmatch(r"\d+\.\d+(\.\d+)?", rust_version):
        problems.append(f"Cargo.toml: rust-version {rust_version!r} is not X.Y[.Z]")
    elif version_tuple(rust_version) > version_tuple(channel):
        problems.append(f"Cargo.toml: rust-version {rust_version} is newer than the toolchain {channel} (rust-version <= toolchain)")

    dockerfile = repo / "Dockerfile"
    if dockerfile.exists():
        args = re.findall(r"(?m)^\s*ARG\s+RUST_VERSION(?:=(\S*))?\s*$", dockerfile.read_text())
        if not args:
            problems.append("Dockerfile: no `ARG RUST_VERSION=...`")
        for default in args:
            if default != channel:
                problems.append(f"Dockerfile: ARG RUST_VERSION={default} but rust-toolchain.toml says {channel}")

    workflows = repo / ".github" / "workflows"
    for wf in sorted(list(workflows.glob("*.yml")) + list(workflows.glob("*.yaml"))):
        text = wf.read_text()
        pins = re.findall(r"(?m)^\s*RUST_TOOLCHAIN:\s*[\"']?([^\"'\s#]+)", text)
        for pin in pins:
            if pin != channel:
                problems.append(f"{wf.relative_to(repo)}: RUST_TOOLCHAIN: {pin} but rust-toolchain.toml says {channel}")
        if not pins and re.search(r"\bcargo\s", text):
            problems.append(f"{wf.relative_to(repo)}: runs cargo but names no RUST_TOOLCHAIN")


def check(repo):
    problems = []
    check_lock(repo, problems)
    check_paths(repo, problems)
    check_rust_versions(repo, problems)
    return problems


# ---- self-test: the checker must fail on broken copies ----

def copy_repo(src, dst):
    files = subprocess.run(["git", "-C", str(src), "ls-files", "-z"], check=True, capture_output=True, text=True).stdout.split("\0")
    keep = [f for f in files if f and (f.endswith(".nix") or f in ("flake.lock", "rust-toolchain.toml", "Cargo.toml", "Dockerfile")
                                       or f.startswith(".github/workflows/"))]
    for f in keep:
        if (src / f).exists():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / f, dst / f)
    # The paths the flake names: tracked (empty) stand-ins are enough for the path check.
    for f in files:
        if f and not (dst / f).exists() and (src / f).exists():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            (dst / f).touch()
    git = ["git", "-C", str(dst), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "copy"], check=True)


def edit(path, old, new):
    text = path.read_text()
    if old not in text:
        raise AssertionError(f"self-test: {old!r} not in {path}")
    path.write_text(text.replace(old, new, 1))


def edit_lock(repo, fn):
    path = repo / "flake.lock"
    lock = json.loads(path.read_text())
    fn(lock["nodes"])
    path.write_text(json.dumps(lock, indent=2))


def faults(channel):
    def untracked(r):
        (r / "nix" / "extra.nix").write_text("{ }\n")
        edit(r / "nix" / "packages.nix", "../migrations", "../migrations ./extra.nix")

    def wrong_workflow(r):
        (r / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
        (r / ".github" / "workflows" / "ci.yml").write_text('env:\n  RUST_TOOLCHAIN: "1.80.0"\njobs: {}\n')

    def unpinned_workflow(r):
        (r / ".github" / "workflows").mkdir(parents=True, exist_ok=True)
        (r / ".github" / "workflows" / "ci.yml").write_text("jobs:\n  t:\n    steps:\n      - run: cargo test\n")

    major, minor, patch = version_tuple(channel)
    return [
        ("wrong ref in flake.nix", lambda r: edit(r / "flake.nix", "nixos-26.05", "nixos-25.11"), "does not match flake.nix url"),
        ("wrong owner in the lock", lambda r: edit_lock(r, lambda n: n["crane"]["original"].update(owner="someone")), "original"),
        ("missing follows in the lock", lambda r: edit_lock(r, lambda n: n["rust-overlay"].pop("inputs")), "follows array"),
        ("follows as a string", lambda r: edit_lock(r, lambda n: n["rust-overlay"]["inputs"].update(nixpkgs="nixpkgs")), "follows array"),
        ("follows dropped from flake.nix", lambda r: edit(r / "flake.nix", 'inputs.nixpkgs.follows = "nixpkgs";', ""), "no such follows"),
        ("flake = false dropped", lambda r: edit(r / "flake.nix", "flake = false;", ""), "flake = False"),
        ("extra root input", lambda r: edit_lock(r, lambda n: n["root"]["inputs"].update(extra="crane")), "root inputs"),
        ("bad narHash", lambda r: edit_lock(r, lambda n: n["nixpkgs"]["locked"].update(narHash="sha256-x")), "narHash"),
        ("short rev", lambda r: edit_lock(r, lambda n: n["crane"]["locked"].update(rev="b8d87f7")), "40 hex"),
        ("unreferenced node", lambda r: edit_lock(r, lambda n: n.update(stray=n["crane"])), "not referenced"),
        ("untracked path", untracked, "is not tracked by git"),
        ("missing path", lambda r: edit(r / "nix" / "packages.nix", "../migrations", "../migrations ../no-such-dir"), "does not exist"),
        ("Dockerfile drift", lambda r: edit(r / "Dockerfile", f"RUST_VERSION={channel}", "RUST_VERSION=1.80.0"), "ARG RUST_VERSION=1.80.0"),
        ("rust-version newer than the toolchain", lambda r: edit(r / "Cargo.toml", "rust-version = ", f'rust-version = "{major}.{minor + 1}"\nx-old = '), "newer than the toolchain"),
        ("workflow drift", wrong_workflow, "RUST_TOOLCHAIN: 1.80.0"),
        ("workflow without a pin", unpinned_workflow, "names no RUST_TOOLCHAIN"),
        ("channel not exact", lambda r: edit(r / "rust-toolchain.toml", f'"{channel}"', '"stable"'), "not an exact"),
        ("musl target dropped", lambda r: edit(r / "rust-toolchain.toml", '"aarch64-unknown-linux-musl"', ""), "targets must include"),
    ]


def self_test(src):
    channel = tomllib.loads((src / "rust-toolchain.toml").read_text())["toolchain"]["channel"]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="nix-check-selftest-") as tmp:
        clean = Path(tmp) / "clean"
        clean.mkdir()
        copy_repo(src, clean)
        # The Dockerfile of the copy names the toolchain, so its own drift case has a baseline.
        if (clean / "Dockerfile").exists():
            text = (clean / "Dockerfile").read_text()
            (clean / "Dockerfile").write_text(re.sub(r"(?m)^ARG RUST_VERSION=\S*$", f"ARG RUST_VERSION={channel}", text))
        for wf in (clean / ".github" / "workflows").glob("*.y*ml"):
            wf.unlink()
        subprocess.run(["git", "-C", str(clean), "add", "-A"], check=True)
        subprocess.run(["git", "-C", str(clean), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "baseline", "--allow-empty"], check=True)
        baseline = check(clean)
        if baseline:
            print("self-test: FAILED: the unchanged copy does not pass:\n  " + "\n  ".join(baseline))
            return 1
        print("self-test: unchanged copy passes")
        for i, (name, fault, expected) in enumerate(faults(channel)):
            case = Path(tmp) / f"case{i}"
            shutil.copytree(clean, case, symlinks=True)
            fault(case)
            problems = check(case)
            if any(expected in p for p in problems):
                print(f"self-test: {name}: caught ({next(p for p in problems if expected in p)})")
            else:
                failures += 1
                print(f"self-test: FAILED: {name}: expected a problem containing {expected!r}, got {problems}")
    return 1 if failures else 0


def main(argv):
    if argv[1:2] == ["--self-test"]:
        return self_test(Path(__file__).resolve().parents[2])
    repo = Path(argv[1] if len(argv) > 1 else ".").resolve()
    problems = check(repo)
    for p in problems:
        print(f"nix-check: {p}")
    if problems:
        print(f"nix-check: FAILED ({len(problems)} problem{'s' if len(problems) != 1 else ''})")
        return 1
    print("nix-check: flake.lock matches flake.nix, every flake path is tracked, one Rust version everywhere")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
