"""The studio's process modeler opens each BPMN MIWG reference model and saves it back with nothing lost.

One Chromium page opens the modeler once; every file is imported through the page's own import path
(`onestopModeler.importXML`, the same code that opens a process) and exported with bpmn-js' `saveXML`.
Python then compares: every id of the original (semantic and diagram) is still there, and the numbers
of BPMN elements with ids, shapes and edges are the MANIFEST's.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest
from lxml import etree

from tests.browser.conftest import ROOT, login

SHARED = ROOT.parent / "shared" / "conformance"
INTERCHANGE = SHARED / "interchange"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def manifest_counts() -> dict[str, tuple[int, int, int]]:
    """The `ids / shapes / edges` column of the MANIFEST's interchange table, by file name."""
    text = (SHARED / "MANIFEST.md").read_text(encoding="utf-8") if (SHARED / "MANIFEST.md").exists() else ""
    rows = re.findall(r"^\| interchange/(\S+\.bpmn) \|.*?\| (\d+) / (\d+) / (\d+) \|", text, re.MULTILINE)
    return {name: (int(ids), int(shapes), int(edges)) for name, ids, shapes, edges in rows}


COUNTS = manifest_counts()
FILES = sorted(COUNTS)
SHIPPED = sorted(p.name for p in (ROOT / "processes").glob("*.bpmn"))


def test_the_manifest_lists_all_21_models():
    if not INTERCHANGE.is_dir():
        pytest.skip(f"no conformance corpus at {INTERCHANGE}")
    assert len(FILES) == 21
    assert sorted(p.name for p in INTERCHANGE.glob("*.bpmn")) == FILES


def parse(text: str | bytes) -> etree._Element:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))


def all_ids(root: etree._Element) -> set[str]:
    return {node.get("id") for node in root.iter(etree.Element) if node.get("id")}


def bpmn_ids(root: etree._Element) -> list[str]:
    return [node.get("id") for node in root.iter(f"{{{BPMN}}}*") if node.get("id")]


def tags(root: etree._Element) -> dict[str, int]:
    """How many elements of each qualified tag (extension elements of other vendors included).

    `<formalExpression>` (a substitution for `<expression>`) is written back as `<expression
    xsi:type="tFormalExpression">`, which means the same: both count as formalExpression.
    """
    def tag(node: etree._Element) -> str:
        if node.tag == f"{{{BPMN}}}expression" and (node.get(XSI_TYPE) or "").endswith("tFormalExpression"):
            return f"{{{BPMN}}}formalExpression"
        return str(node.tag)

    return dict(Counter(tag(node) for node in root.iter(etree.Element)))


@pytest.fixture(scope="module")
def exported(browser: object, live_server: str) -> Iterator[dict[str, dict[str, object]]]:
    """Import and export all 21 models in one modeler page; {file: {xml, warnings} or {error}}."""
    if not INTERCHANGE.is_dir():
        pytest.skip(f"no conformance corpus at {INTERCHANGE}")
    context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=live_server)  # type: ignore
    page = context.new_page()
    login(page, "designer")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto("/studio/processes/supervision")
    page.wait_for_selector("body[data-modeler-ready='1']", timeout=30000)
    results: dict[str, dict[str, object]] = {}
    for name in FILES + SHIPPED:
        source = (INTERCHANGE / name if name in COUNTS else ROOT / "processes" / name).read_text(encoding="utf-8")
        results[name] = page.evaluate(
            """async (xml) => {
                 try {
                   const imported = await window.onestopModeler.importXML(xml);
                   const saved = await window.onestopModeler.modeler.saveXML({ format: true });
                   return { xml: saved.xml, warnings: imported.warnings.map((w) => w.message) };
                 } catch (error) {
                   return { error: String(error && error.message || error) };
                 }
               }""",
            source,
        )
    context.close()
    yield results


@pytest.mark.parametrize("name", FILES)
def test_roundtrip_keeps_every_element(exported: dict[str, dict[str, object]], name: str) -> None:
    result = exported[name]
    assert "error" not in result, result.get("error")
    original = parse((INTERCHANGE / name).read_bytes())
    saved = parse(result["xml"])  # type: ignore[arg-type]
    missing = all_ids(original) - all_ids(saved)
    assert missing == set(), f"{name}: ids lost in the round trip: {sorted(missing)}"
    lost = {tag: n - tags(saved).get(tag, 0) for tag, n in tags(original).items() if tags(saved).get(tag, 0) < n}
    assert lost == {}, f"{name}: elements lost in the round trip (tag: how many)"
    ids, shapes, edges = COUNTS[name]
    assert len(bpmn_ids(original)) == ids  # the corpus is what the MANIFEST says
    assert len(bpmn_ids(saved)) == ids
    assert len(saved.findall(f".//{{{BPMNDI}}}BPMNShape")) == shapes
    assert len(saved.findall(f".//{{{BPMNDI}}}BPMNEdge")) == edges
    # every diagram stays (bpmn-js adds one per collapsed subprocess it can drill into)
    assert len(saved.findall(f".//{{{BPMNDI}}}BPMNDiagram")) >= len(original.findall(f".//{{{BPMNDI}}}BPMNDiagram"))


def test_shipped_processes_survive_the_modeler(exported: dict[str, dict[str, object]]) -> None:
    """Our own processes, saved by the modeler, still publish: same ids, same spiffworkflow extensions,
    and the runtime's validation finds nothing (e.g. multi-instance collections named by variable)."""
    from app.engine.validation import validate_bundle

    files: dict[str, bytes] = {}
    for name in SHIPPED:
        result = exported[name]
        assert "error" not in result, result.get("error")
        original = parse((ROOT / "processes" / name).read_bytes())
        saved = parse(result["xml"])  # type: ignore[arg-type]
        assert all_ids(saved) == all_ids(original), name
        assert tags(saved) == tags(original), name
        refs = [n.text for n in saved.iter(f"{{{BPMN}}}loopDataInputRef")]
        assert refs == [n.text for n in original.iter(f"{{{BPMN}}}loopDataInputRef")], name
        files[name] = result["xml"].encode("utf-8")  # type: ignore[union-attr]
    for folder in (ROOT / "processes", ROOT / "forms"):
        for path in folder.iterdir():
            if path.suffix in (".dmn", ".json"):
                files[path.name] = path.read_bytes()
    assert "mediation.bpmn" in files
    assert [str(p) for p in validate_bundle(files)] == []
