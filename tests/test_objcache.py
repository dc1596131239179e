"""The Verilator builds' compile cache (runtime/rtl/objcache.py, verilated.mk's OBJCACHE): a source
outside the build directory compiles once for every build, and anything it includes is in its key."""

from runtime.rtl import objcache


def compile_in(build_dir, source, monkeypatch, cache):
    build_dir.mkdir(exist_ok=True)
    monkeypatch.chdir(build_dir)
    monkeypatch.setenv(objcache.CACHE_ENV, str(cache))
    return objcache.main(["c++", "-I.", "-MMD", "-O1", "-c", "-o", "lib.o", str(source)])


def test_a_library_source_compiles_once_and_a_generated_header_it_includes_is_in_the_key(tmp_path, monkeypatch):
    library, cache = tmp_path / "include", tmp_path / "cache"
    library.mkdir()
    source = library / "lib.cpp"
    source.write_text('#include "generated.h"\nint answer() { return VALUE; }\n')
    for name, value in [("one", 42), ("two", 42), ("three", 7)]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "generated.h").write_text(f"#define VALUE {value}\n")
        assert compile_in(tmp_path / name, source, monkeypatch, cache) == 0
        assert (tmp_path / name / "lib.o").exists() and (tmp_path / name / "lib.d").exists()
    assert len(list(cache.iterdir())) == 2  # "two" was a hit; "three" includes another header
    assert (tmp_path / "one" / "lib.o").read_bytes() == (tmp_path / "two" / "lib.o").read_bytes()
    assert (tmp_path / "one" / "lib.o").read_bytes() != (tmp_path / "three" / "lib.o").read_bytes()


def test_sources_of_the_build_itself_and_failing_compiles_pass_through(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    (tmp_path / "b").mkdir()
    own = tmp_path / "b" / "model.cpp"
    own.write_text("int f() { return 1; }\n")
    assert compile_in(tmp_path / "b", own, monkeypatch, cache) == 0 and not cache.exists()
    broken = tmp_path / "broken.cpp"
    broken.write_text("int f( {\n")
    assert compile_in(tmp_path / "b", broken, monkeypatch, cache) != 0 and not cache.exists()
