"""mkdocs hooks of the documentation site (mkdocs.yml).

- The pages link to the example stacks and CI recipes as `../examples/…`, which works when
  reading the repository; the site publishes `examples/` too and rewrites such links, so the
  same links work on both.
- Each published directory without a README gets a generated index page listing its files,
  so that links to a directory (`../examples/nat-provider/`) lead somewhere on the site.
- A page of docs/ that the nav does not list yet is added at its end, under "More": a new
  page is never left out of the site.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page

MIRRORED = ("examples",)
_LINK = re.compile(r"(\]\()([^)\s]+)")


def _root(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).resolve().parent


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = _root(config)
    for top in MIRRORED:
        for path in sorted((root / top).rglob("*")):
            if "__pycache__" in path.parts:
                continue
            if path.is_file():
                files.append(
                    File(
                        path.relative_to(root).as_posix(),
                        src_dir=str(root),
                        dest_dir=config.site_dir,
                        use_directory_urls=config.use_directory_urls,
                    )
                )
            elif not (path / "README.md").exists():
                files.append(_index_page(path, root, config))
    listed = set(_nav_paths(config.nav or []))
    missing = sorted(
        f.src_uri
        for f in files.documentation_pages()
        if f.src_uri not in listed and not f.src_uri.startswith(MIRRORED)
    )
    if missing and config.nav is not None:
        config.nav.append({"More": missing})
    return files


def _index_page(directory: Path, root: Path, config: MkDocsConfig) -> File:
    entries = sorted(p for p in directory.iterdir() if p.name != "__pycache__")
    lines = [f"# {directory.relative_to(root).as_posix()}/", ""]
    lines += [f"- [{p.name}{'/' if p.is_dir() else ''}]({p.name})" for p in entries if p.is_file()]
    src_uri = f"{directory.relative_to(root).as_posix()}/index.md"
    page = File.generated(config, src_uri, content="\n".join(lines) + "\n")
    page.inclusion = InclusionLevel.NOT_IN_NAV
    return page


def _nav_paths(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in _nav_paths(value)]
    if isinstance(nav, list):
        return [p for item in nav for p in _nav_paths(item)]
    return []


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    root, docs = _root(config), Path(config.docs_dir).resolve()
    source = Path(str(page.file.abs_src_path)).parent
    page_dir = posixpath.dirname(page.file.src_uri) or "."

    def rewrite(match: re.Match[str]) -> str:
        target = match[2]
        if "://" in target or target.startswith(("#", "/", "mailto:")):
            return match[0]
        path, hash_, anchor = target.partition("#")
        real = (source / path).resolve()
        if real.is_dir():
            real = real / ("README.md" if (real / "README.md").exists() else "index.md")
        if real.is_relative_to(docs):
            site_path = real.relative_to(docs).as_posix()
        elif real.is_relative_to(root) and real.relative_to(root).parts[:1] in [
            (m,) for m in MIRRORED
        ]:
            site_path = real.relative_to(root).as_posix()
        else:
            return match[0]  # outside the site: mkdocs reports it
        return match[1] + posixpath.relpath(site_path, page_dir) + hash_ + anchor

    return _LINK.sub(rewrite, markdown)
