"""The course's chat model: the base model after supervised fine-tuning (SFT) with TRL.

Partie 07 teaches SFT; the parts that follow (reward models, GRPO, DPO, agents,
serving a chat endpoint) start from its result, like they start from the base
model. The recipe:

1. the base model of the profile (:mod:`course_utils.base_model`) and its
   tokenizer, given the course's chat template (:func:`chat_template`: a
   heading per turn, assistant turns inside generation markers);
2. the generated conversations of :func:`~course_utils.instructions.instruction_dataset`
   (tool calls, additions, signatures), trained with TRL's ``SFTTrainer`` on the
   assistant tokens only (``assistant_only_loss=True``);
3. :func:`evaluate` measures, on the held-out test split and before and after
   training, the rate of valid tool calls, exact tool calls, exact sums and exact
   signatures; ``training.json`` keeps both.

Built once per profile and cached next to the base model (:func:`chat_model_path`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from . import instructions
from .base_model import _build_once, _versions_key, base_model_path, load_base_model, run_recipe, save_trained
from .pretrained import load_pretrained
from .profiles import current_profile

# fmt: off
CHAT_RECIPES = {
    "ci": dict(n_train=600, largest=20, epochs=5, lr=3e-3, batch_size=16, max_length=128, cpu_threads=1),
    "cpu": dict(n_train=3000, largest=50, epochs=3, lr=1e-3, batch_size=32, max_length=192, cpu_threads=None),
    "gpu": dict(n_train=20000, largest=99, epochs=2, lr=5e-4, batch_size=64, max_length=256, cpu_threads=None),
}
# fmt: on
N_TEST = 90
# Shipped inside the package: Colab installs and the grader's sandbox only have ``course_utils``.
CHAT_TEMPLATE_PATH = Path(__file__).with_name("chat_template.jinja")


def chat_template() -> str:
    """The course's Jinja chat template (:data:`CHAT_TEMPLATE_PATH`, also given to vLLM)."""
    return CHAT_TEMPLATE_PATH.read_text(encoding="utf-8")


def generate_answers(model, tokenizer, prompts: list[str], max_new_tokens: int = 64, batch_size: int = 32) -> list[str]:
    """Greedy answers of a chat model to user ``prompts`` (one turn each), without the prompt."""
    import torch

    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    device = next(model.parameters()).device
    answers = []
    try:
        model.eval()
        for start in range(0, len(prompts), batch_size):
            chats = [[{"role": "user", "content": p}] for p in prompts[start : start + batch_size]]
            texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.no_grad():
                out = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            answers += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return answers


def evaluate(model, tokenizer, dataset, max_new_tokens: int = 64) -> dict:
    """Rates on ``dataset`` (``task``, ``prompt``, ``answer``): valid and exact tool calls, exact sums and signatures."""
    answers = generate_answers(model, tokenizer, dataset["prompt"], max_new_tokens)
    hits: dict[str, list[bool]] = {}
    for task, expected, answer in zip(dataset["task"], dataset["answer"], answers, strict=True):
        if task == "tool_call":
            call = instructions.parse_tool_call(answer)
            hits.setdefault("tool_call_valid", []).append(call is not None)
            hits.setdefault("tool_call_exact", []).append(call == json.loads(expected))
        else:
            hits.setdefault(f"{task}_exact", []).append(answer.strip() == expected)
    return {name: sum(values) / len(values) for name, values in sorted(hits.items())}


def build_chat_model(profile: str | None, out_dir: Path, *, seed: int = 0) -> dict:
    """SFT of the base model of ``profile``; model, tokenizer (with its chat template) and ``training.json`` in ``out_dir``."""
    profile = current_profile(profile)
    return run_recipe(_sft_and_save, CHAT_RECIPES[profile], profile, Path(out_dir), seed)


def _sft_and_save(recipe: dict, profile: str, device: str, out_dir: Path, seed: int) -> dict:
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = load_base_model(profile)
    tokenizer.chat_template = chat_template()
    data = instructions.instruction_dataset(
        n_train=recipe["n_train"], n_test=N_TEST, largest=recipe["largest"], seed=seed
    )
    before = evaluate(model, tokenizer, data["test"])
    scratch = tempfile.mkdtemp(prefix="sft-")  # the trainer's own folder; nothing is saved there
    config = SFTConfig(
        output_dir=scratch,
        assistant_only_loss=True,
        max_length=recipe["max_length"],
        packing=False,
        per_device_train_batch_size=recipe["batch_size"],
        learning_rate=recipe["lr"],
        num_train_epochs=recipe["epochs"],
        lr_scheduler_type="cosine",
        warmup_steps=5,
        logging_steps=5,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        activation_checkpointing=False,  # TRL turns it on by default: slower, and nothing to save at these sizes
        use_cpu=device == "cpu",
        bf16=device == "cuda",
        seed=seed,
    )
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=data["train"].select_columns(["messages"]), processing_class=tokenizer
    )
    trainer.remove_callback(PrinterCallback)  # the losses go to training.json, not to the output
    started = time.perf_counter()
    try:
        trainer.train()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    model = trainer.model
    summary = {
        "profile": profile,
        "recipe": recipe,
        "seed": seed,
        "train_seconds": round(seconds, 1),
        "before_sft": before,
        "after_sft": evaluate(model, tokenizer, data["test"]),
        "train_losses": [round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h],
    }
    return save_trained(model, tokenizer, out_dir, summary)


def chat_model_path(profile: str | None = None) -> Path:
    """Folder of the chat model of ``profile`` (built on first use, then cached)."""
    profile = current_profile(profile)
    base = base_model_path(profile)
    # The data generator is part of the recipe: a change there rebuilds the model.
    data_source = Path(instructions.__file__).read_text(encoding="utf-8")
    key = _versions_key(CHAT_RECIPES[profile], base.name, chat_template(), data_source, profile)
    return _build_once(f"chat-model-{profile}-{key}", lambda folder: build_chat_model(profile, folder))


def load_chat_model(profile: str | None = None):
    """Return ``(model, tokenizer)``: the course's chat model (SFT of the base model), in eval mode."""
    return load_pretrained(str(chat_model_path(profile)), local_files_only=True)


def chat_summary(profile: str | None = None) -> dict:
    """What the SFT recipe measured when the chat model was built (``training.json``)."""
    return json.loads((chat_model_path(profile) / "training.json").read_text())
