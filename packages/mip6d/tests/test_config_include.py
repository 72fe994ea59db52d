"""include (UMIP, extended by Homeguy): globs relative to the including file, sorted order,
cycles, files included twice, missing files, and load() on real files."""

import fnmatch
from collections.abc import Sequence
from ipaddress import IPv6Address
from pathlib import Path

import pytest
from mip6d.config import ConfigError, Location, filesystem_loader, load, parse
from mip6d.config.parser import MAX_INCLUDE_DEPTH

pytestmark = pytest.mark.unit

DATA = Path(__file__).parent / "data" / "config"


class Files:
    """An in-memory file system for ``parse(..., loader=...)``; records the patterns."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.patterns: list[str] = []

    def __call__(self, pattern: str) -> Sequence[tuple[str, str]]:
        self.patterns.append(pattern)
        depth = pattern.count("/")
        matches = [
            (path, text) for path, text in self.files.items()
            if path.count("/") == depth and fnmatch.fnmatchcase(path, pattern)
        ]
        return list(reversed(matches))  # the parser must sort, whatever the loader does


def error(text: str, files: dict[str, str], path: str = "/etc/mip6d/mip6d.conf") -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, path, Files(files))
    return str(caught.value)


def test_glob_is_relative_to_the_including_file_and_read_in_sorted_order() -> None:
    files = Files({
        "/etc/mip6d/nodes.d/b.conf": "BindingAclPolicy 2001:db8::b allow;\n",
        "/etc/mip6d/nodes.d/a.conf": "BindingAclPolicy 2001:db8::a allow;\n"
                                     'include "keys/*.conf";\n',
        "/etc/mip6d/nodes.d/keys/k.conf": "BindingAclPolicy 2001:db8::c allow;\n",
        "/etc/mip6d/other.conf": "DebugLevel 9;\n",
    })
    config = parse('include "nodes.d/*.conf";\ninclude "/etc/mip6d/other.conf"',
                   "/etc/mip6d/mip6d.conf", files)
    assert files.patterns == [
        "/etc/mip6d/nodes.d/*.conf", "/etc/mip6d/nodes.d/keys/*.conf", "/etc/mip6d/other.conf",
    ]
    assert [acl.home_address for acl in config.binding_acl] == [
        IPv6Address("2001:db8::a"), IPv6Address("2001:db8::c"), IPv6Address("2001:db8::b"),
    ]
    assert config.sources == (
        "/etc/mip6d/mip6d.conf", "/etc/mip6d/nodes.d/a.conf", "/etc/mip6d/nodes.d/keys/k.conf",
        "/etc/mip6d/nodes.d/b.conf", "/etc/mip6d/other.conf",
    )
    assert config.debug_level == 9
    assert config.binding_acl[2].location == Location("/etc/mip6d/nodes.d/b.conf", 1, 1)


def test_relative_main_path() -> None:
    files = Files({"x.conf": "DebugLevel 3;"})
    assert parse('include "x.conf";', "main.conf", files).debug_level == 3
    assert files.patterns == ["x.conf"]


def test_semicolon_after_include_is_optional() -> None:
    files = Files({"/a.conf": "DebugLevel 3;", "/b.conf": "UseCnBuAck enabled;"})
    config = parse('include "/a.conf"\ninclude "/b.conf";\nDebugLogFile "x";', "/m.conf",
                   files)
    assert (config.debug_level, config.use_cn_bu_ack, config.debug_log_file) == (3, True, "x")


def test_pattern_that_matches_nothing_is_a_warning() -> None:
    config = parse('include "nodes.d/*.conf";', "/etc/mip6d/mip6d.conf", Files({}))
    assert [str(w) for w in config.warnings] == [
        "/etc/mip6d/mip6d.conf:1:1: warning: include pattern '/etc/mip6d/nodes.d/*.conf' "
        "matches no file",
    ]


def test_errors_in_included_files_name_the_included_file() -> None:
    assert error('include "nodes.d/*.conf";',
                 {"/etc/mip6d/nodes.d/a.conf": "\nBindingAclPolicy 2001:db8::a alow;"}) == (
        "/etc/mip6d/nodes.d/a.conf:2:30: expected a prefix list '(prefix/length, ...)' or "
        "allow, deny or a status number from 0 to 255 after BindingAclPolicy address, found "
        "'alow'; did you mean 'allow'?"
    )


def test_a_block_cannot_span_files() -> None:
    assert error('include "a.conf";\n}', {"/etc/mip6d/a.conf": 'Interface "eth0" {'}) == (
        "/etc/mip6d/a.conf:1:19: expected '}' to close Interface \"eth0\" opened at line 1, "
        "found end of file"
    )


INCLUDE_ERRORS = [
    ('include "missing.conf";', {}, "/etc/mip6d/mip6d.conf:1:1: included file "
     "'/etc/mip6d/missing.conf' does not exist"),
    ('include "";', {}, "/etc/mip6d/mip6d.conf:1:9: expected a quoted file name or glob "
     "pattern after include, found '\"\"'"),
    ('include "mip6d.conf";', {"/etc/mip6d/mip6d.conf": "DebugLevel 1;"},
     "/etc/mip6d/mip6d.conf:1:1: include cycle: /etc/mip6d/mip6d.conf -> "
     "/etc/mip6d/mip6d.conf"),
    ('include "a.conf";', {"/etc/mip6d/a.conf": 'include "sub/b.conf";',
                           "/etc/mip6d/sub/b.conf": 'include "../a.conf";'},
     "/etc/mip6d/sub/b.conf:1:1: include cycle: /etc/mip6d/a.conf -> /etc/mip6d/sub/b.conf "
     "-> /etc/mip6d/a.conf"),
    ('include "a.conf";\ninclude "*.conf";', {"/etc/mip6d/a.conf": "DebugLevel 1;",
                                              "/etc/mip6d/b.conf": "UseCnBuAck enabled;"},
     "/etc/mip6d/mip6d.conf:2:1: '/etc/mip6d/a.conf' is included twice; expected each file "
     "once (first included at /etc/mip6d/mip6d.conf:1:1)"),
    ('include "a.conf";', {"/etc/mip6d/a.conf": "DebugLevel 1;\nDebugLevel 2;"},
     "/etc/mip6d/a.conf:2:1: DebugLevel given twice; expected it at most once (first at "
     "/etc/mip6d/a.conf:1:1)"),
    ('NodeConfig MN;\ninclude "a.conf";', {"/etc/mip6d/a.conf": "NodeConfig HA;"},
     "/etc/mip6d/a.conf:1:1: NodeConfig given twice; expected it at most once (first at "
     "/etc/mip6d/mip6d.conf:1:1)"),
    ('include "nodes.d/*.conf";', {
        "/etc/mip6d/nodes.d/a.conf": "BindingAclPolicy 2001:db8::5 (2001:db8:5::/64) allow;",
        "/etc/mip6d/nodes.d/b.conf": "\n\nBindingAclPolicy 2001:db8::6 (2001:db8:5::/64) allow;",
    }, "/etc/mip6d/nodes.d/b.conf:3:1: mobile network prefix 2001:db8:5::/64 overlaps "
       "2001:db8:5::/64 of BindingAclPolicy 2001:db8::5 at /etc/mip6d/nodes.d/a.conf:1:1; "
       "expected each prefix to belong to one mobile router"),
    ('include "nodes.d/*.conf";', {
        "/etc/mip6d/nodes.d/a.conf": "MnHomeLink \"e\" { HomeAddress 2001:db8::5/64; }",
        "/etc/mip6d/nodes.d/b.conf": "MnHomeLink \"f\" { HomeAddress 2001:db8::5/64; }",
    }, "/etc/mip6d/nodes.d/b.conf:1:18: home address 2001:db8::5 is already given to "
       "MnHomeLink \"e\" at /etc/mip6d/nodes.d/a.conf:1:18; expected each home address once"),
]


@pytest.mark.parametrize(("text", "files", "message"), INCLUDE_ERRORS)
def test_include_errors(text: str, files: dict[str, str], message: str) -> None:
    assert error(text, files) == message


def test_nesting_limit() -> None:
    files = {f"/d/{n}.conf": f'include "{n + 1}.conf";' for n in range(MAX_INCLUDE_DEPTH + 1)}
    assert error('include "0.conf";', files, "/d/main.conf") == (
        f"/d/{MAX_INCLUDE_DEPTH - 2}.conf:1:1: includes nest deeper than {MAX_INCLUDE_DEPTH} "
        "levels; expected a flatter configuration"
    )


def test_include_without_loader() -> None:
    with pytest.raises(ConfigError) as caught:
        parse('include "x.conf";', "m.conf")
    assert str(caught.value) == (
        "m.conf:1:1: include needs a loader to read other files; expected the configuration to "
        "be read with mip6d.config.load() or parse(..., loader=...)"
    )


def test_loader_errors_become_config_errors() -> None:
    def failing(pattern: str) -> list[tuple[str, str]]:
        raise PermissionError(13, "Permission denied", "/etc/mip6d/nodes.d/a.conf")

    with pytest.raises(ConfigError) as caught:
        parse('\n  include "nodes.d/*.conf";', "/etc/mip6d/mip6d.conf", failing)
    assert str(caught.value) == (
        "/etc/mip6d/mip6d.conf:2:3: cannot read included file /etc/mip6d/nodes.d/a.conf: "
        "Permission denied"
    )


# ------------------------------------------------------------------ real files, load()


def test_load_reads_included_files_from_disk() -> None:
    main = str(DATA / "include" / "main.conf")
    config = load(main)
    nodes = str(DATA / "include" / "nodes.d")
    assert config.sources == (main, f"{nodes}/a-host.conf", f"{nodes}/b-router.conf")
    assert [str(a.home_address) for a in config.binding_acl] == ["2001:db8:1::a", "2001:db8:1::b"]
    assert config.ha_accept_mob_rtr is True
    assert config.ha_max_binding_life == 3600  # the statement after the include
    assert config.binding_acl[1].location == Location(f"{nodes}/b-router.conf", 2, 1)
    assert config.warnings == ()


def test_load_finds_include_cycles_on_disk() -> None:
    main = str(DATA / "cycle" / "main.conf")
    with pytest.raises(ConfigError) as caught:
        load(main)
    cycle = DATA / "cycle"
    assert str(caught.value) == (
        f"{cycle}/b/c.conf:2:1: include cycle: {cycle}/main.conf -> {cycle}/a.conf -> "
        f"{cycle}/b/c.conf -> {cycle}/main.conf"
    )


def test_load_names_both_files_of_a_duplicated_home_address() -> None:
    nodes = DATA / "duplicate" / "nodes.d"
    with pytest.raises(ConfigError) as caught:
        load(str(DATA / "duplicate" / "main.conf"))
    assert str(caught.value) == (
        f"{nodes}/two.conf:2:1: home address 2001:db8:1::5 is already given to "
        f"BindingAclPolicy at {nodes}/one.conf:1:1; expected each home address once"
    )


def test_load_missing_include() -> None:
    main = DATA / "missing" / "main.conf"
    with pytest.raises(ConfigError) as caught:
        load(str(main))
    assert str(caught.value) == (
        f"{main}:2:1: included file '{main.parent}/nope.conf' does not exist"
    )


def test_load_errors_for_the_main_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(str(tmp_path / "absent.conf"))
    assert str(caught.value) == (
        f"{tmp_path}/absent.conf: cannot read the configuration: No such file or directory"
    )
    latin1 = tmp_path / "latin1.conf"
    latin1.write_bytes(b'DebugLogFile "/var/log/\xe9";')
    with pytest.raises(ConfigError) as caught:
        load(str(latin1))
    assert str(caught.value) == f"{latin1}: cannot read the configuration: not UTF-8 text (byte 23)"


def test_load_reports_unreadable_included_files(tmp_path: Path) -> None:
    (tmp_path / "nodes.d").mkdir()
    (tmp_path / "nodes.d" / "bad.conf").write_bytes(b"# \xff\n")
    (tmp_path / "main.conf").write_text('include "nodes.d/*.conf";\n')
    with pytest.raises(ConfigError) as caught:
        load(str(tmp_path / "main.conf"))
    assert str(caught.value) == (
        f"{tmp_path}/main.conf:1:1: cannot read included file {tmp_path}/nodes.d/bad.conf: "
        "not UTF-8 text"
    )


def test_filesystem_loader_globs_regular_files_in_order() -> None:
    nodes = DATA / "include" / "nodes.d"
    found = filesystem_loader(f"{nodes}/*.conf")
    assert [Path(p).name for p, _ in found] == ["a-host.conf", "b-router.conf"]
    assert found[0][1] == "BindingAclPolicy 2001:db8:1::a allow;\n"
    assert filesystem_loader(f"{nodes}/none-*.conf") == []

