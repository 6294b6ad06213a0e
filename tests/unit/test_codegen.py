"""Per-step code generation (edgesdk/codegen.py): every manifest step has a macro in every
generated language, and a step without one, or one the Python reference refuses, stops the render
with an error naming the field: never a silently missing line of generated code."""

from __future__ import annotations

import numpy as np
import pytest
from cpp.conftest import context  # the render context of docs/glue-context.md, as the C++ tests build it

from edgesdk import codegen, render
from edgesdk.errors import UnsupportedOpError
from edgesdk.manifest import POST_STEPS, PRE_STEPS
from edgesdk.processing import ProcessingError, run_postprocess

# Every template tree is a language the glue is generated in.
LANGUAGES = sorted(p.name for p in render.TEMPLATES_DIR.iterdir() if p.is_dir())
PRE = [{"op": "resize", "size": [8, 8], "interpolation": "bilinear", "keep_ratio": False}, {"op": "center_crop", "size": [6, 6]}, {"op": "layout", "layout": "nchw"}]
POST = [{"op": "softmax", "axis": -1}, {"op": "topk", "k": 2}]
# The target whose bundles carry each language's SDK, and a runtime with glue for it.
BUNDLE_OF = {"cpp": ("x86", "onnxruntime"), "kotlin": ("android", "onnxruntime")}


def _context(task: str = "classification", pre: list | None = None, post: list | None = None) -> dict:
    return context(
        "steps",
        b"model",
        task=task,
        inputs=[{"name": "x", "shape": [1, 3, 6, 6], "dtype": "float32"}],
        outputs=[{"name": "y", "shape": [1, 4], "dtype": "float32"}],
        input_color="rgb",
        pre=PRE if pre is None else pre,
        post=POST if post is None else post,
        labels=[],
    )


def _render(language: str, ctx: dict, tmp_path) -> None:
    """The language's SDK templates alone: no check before them, only the templates' own dispatch."""
    lang_ctx = {**ctx, "adapter": render.adapter_fragments("onnxruntime", language, ctx)}
    render.render_tree(render.TEMPLATES_DIR / language, tmp_path / language, lang_ctx)


def test_every_manifest_step_has_a_macro_in_every_language():
    assert {"cpp", "kotlin"} <= set(LANGUAGES)
    missing, unknown = [], []
    for language in LANGUAGES:
        have = codegen.steps_for(language)
        for section, table in (("pre", PRE_STEPS), ("post", POST_STEPS)):
            missing += [f"{language}: {section}_{op}" for op in table if op not in have[section]]
            unknown += [f"{language}: {section}_{op}" for op in have[section] if op not in table]
    assert not missing, f"manifest steps without a macro in {codegen.STEP_LIBRARY}: {', '.join(missing)}"
    assert not unknown, f"macros for steps the manifest does not have: {', '.join(unknown)}"


@pytest.mark.parametrize("language", ["cpp", "kotlin"])
@pytest.mark.parametrize("section", ["pre", "post"])
def test_templates_refuse_a_step_without_a_macro(language, section, tmp_path):
    steps = {"pre": PRE[:1] + [{"op": "nope"}] + PRE[1:], "post": POST[:1] + [{"op": "nope"}]}
    ctx = _context(**{section: steps[section]})
    with pytest.raises(UnsupportedOpError) as caught:
        _render(language, ctx, tmp_path)
    field = {"pre": "preprocess", "post": "postprocess"}[section]
    assert str(caught.value).startswith(f"{field}.steps[1].nope: the {language} glue has no {field} step 'nope'")
    assert ", ".join(codegen.steps_for(language)[section]) in str(caught.value)


@pytest.mark.parametrize("language", ["cpp", "kotlin"])
def test_bundle_with_a_step_a_language_lacks_is_refused_before_rendering(language, tmp_path, monkeypatch):
    """A step the manifest knows but one language has no macro for (a step added to the schema and
    not to every language): exit 2, naming the field, the language and its steps; nothing written."""
    real = codegen.steps_for

    def lacking_topk(lang):
        have = real(lang)
        return {**have, "post": tuple(op for op in have["post"] if op != "topk")} if lang == language else have

    monkeypatch.setattr(codegen, "steps_for", lacking_topk)
    stage = tmp_path / "stage"
    stage.mkdir()
    with pytest.raises(UnsupportedOpError) as caught:
        render.render_bundle(stage, _context(), *BUNDLE_OF[language])
    assert caught.value.exit_code == 2
    others = ", ".join(op for op in real(language)["post"] if op != "topk")  # softmax, sigmoid, argmax, ...
    assert others.startswith("softmax, sigmoid, argmax")
    assert str(caught.value) == (f"postprocess.steps[1].topk: the {language} glue has no postprocess step 'topk' (it has: {others})")
    assert not any(stage.iterdir())


@pytest.mark.parametrize("language", ["cpp", "kotlin"])
@pytest.mark.parametrize("op", [{"op": "argmax", "axis": -1}, {"op": "topk", "k": 2}], ids=["argmax", "topk"])
def test_class_selection_outside_classification_is_refused_like_the_reference(language, op, tmp_path):
    """The reference refuses argmax/topk for a custom task; the generated glue must not drop them."""
    post = [{"op": "softmax", "axis": 0}, op]
    with pytest.raises(ProcessingError, match="only applies to classification"):
        run_postprocess([np.zeros((1, 4), np.float32)], "custom", {"output_index": 0, "steps": post, "labels": []})
    want = f"postprocess.steps[1].{op['op']}: only applies to classification, not 'custom'"
    with pytest.raises(UnsupportedOpError) as caught:
        _render(language, _context("custom", post=post), tmp_path)
    assert str(caught.value).startswith(want) and language in str(caught.value)
    stage = tmp_path / "stage"
    stage.mkdir()
    with pytest.raises(UnsupportedOpError) as caught:
        render.render_bundle(stage, _context("custom", post=post), *BUNDLE_OF[language])
    assert str(caught.value).startswith(want) and not any(stage.iterdir())


def test_valid_steps_pass_the_check_in_every_language():
    codegen.check_steps(_context(), LANGUAGES)
    codegen.check_steps(_context("custom", post=[{"op": "softmax", "axis": 0}, {"op": "sigmoid"}]), LANGUAGES)
