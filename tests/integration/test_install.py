"""The installed library: `meson install` of the tested build puts the
header, both libraries, the pkg-config file, the man page and anycgi-echo
in place; a program built with pkg-config against them runs, and the shared
library exports only acgi_ names."""
import glob
import json
import os
import subprocess

import pytest


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def sanitize_flags(build):
    opts = json.loads(subprocess.run(
        ["meson", "introspect", build, "--buildoptions"],
        check=True, capture_output=True, text=True).stdout)
    value = next(o["value"] for o in opts if o["name"] == "b_sanitize")
    return [] if value == "none" else ["-fsanitize=" + value]


@pytest.fixture
def installed(build_dir, workdir):
    dest = os.path.join(workdir, "dest")
    subprocess.run(["meson", "install", "-C", build_dir, "--destdir", dest,
                    "--no-rebuild", "--quiet"], check=True,
                   capture_output=True, timeout=120)
    return dest


def test_install_layout_and_pkg_config(installed, build_dir, workdir):
    pcs = glob.glob(installed + "/**/pkgconfig/anycgi.pc", recursive=True)
    assert len(pcs) == 1, pcs
    libdir = os.path.dirname(os.path.dirname(pcs[0]))
    for name in ("libanycgi.so", "libanycgi.a"):
        assert os.path.exists(os.path.join(libdir, name)), name
    assert glob.glob(installed + "/**/include/anycgi.h", recursive=True)
    assert glob.glob(installed + "/**/man3/anycgi.3", recursive=True)
    assert glob.glob(installed + "/**/bin/anycgi-echo", recursive=True)

    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
               PKG_CONFIG_SYSROOT_DIR=installed)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "anycgi"],
                           env=env, check=True, capture_output=True,
                           text=True).stdout.split()
    exe = os.path.join(workdir, "hello-installed")
    subprocess.run(["cc", "-std=c11", "-Wall", "-Werror",
                    os.path.join(ROOT, "examples", "hello.c"), "-o", exe,
                    "-Wl,-rpath," + libdir] + flags +
                   sanitize_flags(build_dir), check=True, timeout=60)
    out = subprocess.run([exe], env=dict(os.environ,
                         GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="GET"),
                         stdin=subprocess.DEVNULL, capture_output=True,
                         timeout=10)
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith(b"\r\n\r\nHello, world!\n"), out.stdout
    assert out.stdout.startswith(b"Status: 200 OK\r\n"), out.stdout


def test_only_public_names_exported(installed):
    lib = glob.glob(installed + "/**/libanycgi.so", recursive=True)[0]
    names = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                           capture_output=True, text=True).stdout.split("\n")
    exported = [line.split()[-1] for line in names if line.strip()]
    assert "acgi_accept" in exported
    others = [n for n in exported if not n.startswith("acgi_")]
    assert others == [], others
