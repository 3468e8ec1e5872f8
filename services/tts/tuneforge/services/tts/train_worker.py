"""Qwen3-TTS 12 Hz supervised fine-tuning worker (a new custom voice from a base model).

    python -m tuneforge.services.tts.train_worker --spec SPEC.json
    accelerate launch -m tuneforge.services.tts.train_worker --spec SPEC.json   # multi-GPU

Spec (see :func:`tuneforge.services.tts.specs.train_spec`)::

    {"train_jsonl": "/abs/var/tts/prepared/train.jsonl", "output_dir": "/abs/var/tts/models/NAME",
     "model_name": "NAME", "device": "auto",
     "config": {TtsTrainingConfig fields: base_model, batch_size, gradient_accumulation_steps,
                learning_rate, num_epochs, speaker_name, seed, ...}}

Recipe (setup → train → save_checkpoint): load the *base* model with SDPA attention (no
flash-attention requirement), compute the speaker embedding of the reference clip once with
the frozen speaker encoder, and train talker + code predictor on sequences laid out exactly as
``generate_custom_voice`` (non-streaming mode) builds them at inference:

    pos 0-2   text: <|im_start|>assistant\\n             codec: —
    pos 3-7   text: pad pad pad pad bos                  codec: nothink think_bos think_eos SPK pad
    pos 8..   text: the transcript tokens, then eos      codec: pad ...
    next      text: pad                                  codec: bos
    frames    text: pad                                  codec: sum of the 16 code embeddings
    last      text: pad                                  codec: eos

Where upstream ``finetuning/sft_12hz.py`` differs from inference, we follow inference:
text embeddings go through ``talker.text_projection`` (upstream skipped it); labels are
shifted once, here, and the loss is computed explicitly (upstream shifted them and then the
model's loss shifted again; the code-predictor loss it reads is shifted by the model too);
the code predictor sees the talker hidden state of the *previous* position, as in
generation; the speaker name is stored lower-cased (inference lower-cases it).

Checkpoints after every epoch: ``output_dir/checkpoint-epoch-N/`` (N from 1), a complete
custom-voice model that ``Qwen3TTSModel.from_pretrained(ckpt).generate_custom_voice(text,
speaker=NAME)`` loads: the base model's files (hard-linked when possible), ``config.json``
with ``tts_model_type: custom_voice`` and ``spk_id {NAME: 3000}``, ``model.safetensors``
without the speaker encoder and with the speaker embedding in codec-embedding row 3000, and
``tuneforge-checkpoint.json`` (resolved config, epoch, step, loss). Written to a temporary
directory, then renamed.

Events: ``progress`` (phase "training", step/total optimizer steps, epoch, eta) and
``metrics`` (loss, talker_loss, sub_talker_loss, learning_rate, grad_norm, epoch) per
optimizer step, ``checkpoint`` per save, ``result`` ``{"model_dir", "speaker_name",
"checkpoints": [paths], "epochs_completed", "steps", "final_loss", "stopped"}``. SIGTERM →
save ``checkpoint-stopped-step-S`` (same layout), report it, exit 0.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tuneforge.runtime import worker_events as ev
from tuneforge.runtime.errors import invalid_argument

SPEAKER_ROW = 3000
SAMPLE_RATE = 24000
META_FILE = "tuneforge-checkpoint.json"
MODEL_META_FILE = "tuneforge-voice.json"


# ----------------------------------------------------------------------------- data


def load_rows(path: Path, num_groups: int, codebook_size: int) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            codes = row.get("audio_codes")
            if not codes or any(len(f) != num_groups for f in codes):
                raise invalid_argument("train_jsonl", f"line {n}: audio_codes must be frames of {num_groups} codes")
            if max(max(f) for f in codes) >= codebook_size or min(min(f) for f in codes) < 0:
                raise invalid_argument("train_jsonl", f"line {n}: audio code out of range")
            if not str(row.get("text", "")).strip():
                raise invalid_argument("train_jsonl", f"line {n}: empty text")
            rows.append(row)
    if not rows:
        raise invalid_argument("train_jsonl", "no training rows", reason="EMPTY_DATASET")
    refs = {r.get("ref_audio") for r in rows}
    if len(refs) != 1 or None in refs:
        raise invalid_argument("train_jsonl", "every row must name the same ref_audio")
    return rows


def encode_rows(rows, processor) -> list[dict[str, Any]]:
    """Tokenize like inference does (``_build_assistant_text``), keep the transcript ids."""
    import torch

    items = []
    for row in rows:
        text = f"<|im_start|>assistant\n{row['text']}<|im_end|>\n<|im_start|>assistant\n"
        ids = processor(text=text, return_tensors="pt", padding=True)["input_ids"][0]
        items.append({
            "role_ids": ids[:3],
            "text_ids": ids[3:-5],  # inference slices input_id[:, 3:-5] the same way
            "codes": torch.tensor(row["audio_codes"], dtype=torch.long),
        })  # fmt: skip
    return items


def collate(batch, cfg) -> dict[str, Any]:
    """Right-padded tensors for one batch; see the layout in the module docstring."""
    import torch

    tc = cfg.talker_config
    groups = tc.num_code_groups
    lengths = [8 + len(b["text_ids"]) + 3 + b["codes"].shape[0] for b in batch]
    bsz, width = len(batch), max(lengths)
    text_ids = torch.zeros((bsz, width), dtype=torch.long)
    text_mask = torch.zeros((bsz, width), dtype=torch.bool)
    codec_ids = torch.zeros((bsz, width), dtype=torch.long)
    codec_mask = torch.zeros((bsz, width), dtype=torch.bool)
    codes = torch.zeros((bsz, width, groups), dtype=torch.long)
    frame_mask = torch.zeros((bsz, width), dtype=torch.bool)
    labels = torch.full((bsz, width), -100, dtype=torch.long)
    attention = torch.zeros((bsz, width), dtype=torch.long)
    for i, b in enumerate(batch):
        n, c = len(b["text_ids"]), b["codes"].shape[0]
        eos, bos, first = 8 + n, 9 + n, 10 + n
        text_ids[i, :3] = b["role_ids"]
        text_ids[i, 3:7] = cfg.tts_pad_token_id
        text_ids[i, 7] = cfg.tts_bos_token_id
        text_ids[i, 8:eos] = b["text_ids"]
        text_ids[i, eos] = cfg.tts_eos_token_id
        text_ids[i, bos : lengths[i]] = cfg.tts_pad_token_id
        text_mask[i, : lengths[i]] = True
        codec_ids[i, 3:8] = torch.tensor(
            [tc.codec_nothink_id, tc.codec_think_bos_id, tc.codec_think_eos_id, 0, tc.codec_pad_id]
        )
        codec_ids[i, 8:bos] = tc.codec_pad_id
        codec_ids[i, bos] = tc.codec_bos_id
        codec_ids[i, first : first + c] = b["codes"][:, 0]
        codec_ids[i, first + c] = tc.codec_eos_token_id
        codec_mask[i, 3 : lengths[i]] = True
        codec_mask[i, 6] = False  # the speaker embedding goes here
        codes[i, first : first + c] = b["codes"]
        frame_mask[i, first : first + c] = True
        labels[i, first : first + c] = b["codes"][:, 0]
        labels[i, first + c] = tc.codec_eos_token_id
        attention[i, : lengths[i]] = 1
    return {"text_ids": text_ids, "text_mask": text_mask, "codec_ids": codec_ids,
            "codec_mask": codec_mask, "codes": codes, "frame_mask": frame_mask,
            "labels": labels, "attention_mask": attention}  # fmt: skip


def compute_loss(model, batch, speaker_embedding, sub_weight: float):
    """(loss, talker_loss, sub_talker_loss) for one batch."""
    import torch.nn.functional as F

    talker = model.talker
    dtype = next(talker.parameters()).dtype
    text = talker.text_projection(talker.get_text_embeddings()(batch["text_ids"]))
    text = text * batch["text_mask"].unsqueeze(-1).to(dtype)
    codec = talker.get_input_embeddings()(batch["codec_ids"])
    codec = codec * batch["codec_mask"].unsqueeze(-1).to(dtype)
    codec[:, 6, :] = speaker_embedding.to(dtype)
    embeds = text + codec
    frame = batch["frame_mask"].unsqueeze(-1).to(dtype)
    for g in range(1, talker.config.num_code_groups):
        embeds = embeds + talker.code_predictor.get_input_embeddings()[g - 1](batch["codes"][:, :, g]) * frame

    out = talker(inputs_embeds=embeds, attention_mask=batch["attention_mask"], output_hidden_states=True)
    logits = out.logits
    talker_loss = F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(), batch["labels"][:, 1:].reshape(-1),
        ignore_index=-100,
    )
    hidden = out.hidden_states[0][-1]  # final (normed) layer, as generation's past_hidden
    prev_hidden = hidden[:, :-1][batch["frame_mask"][:, 1:]]
    frame_codes = batch["codes"][batch["frame_mask"]]
    sub_logits, _ = talker.forward_sub_talker_finetune(frame_codes, prev_hidden)
    sub_loss = F.cross_entropy(
        sub_logits.reshape(-1, sub_logits.shape[-1]).float(), frame_codes[:, 1:].reshape(-1)
    )
    return talker_loss + sub_weight * sub_loss, talker_loss, sub_loss


# ----------------------------------------------------------------------- checkpoints


def _link_or_copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
        for child in src.iterdir():
            _link_or_copy(child, dst / child.name)
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def save_checkpoint(model, base_dir: Path, out: Path, speaker: str, speaker_embedding, meta: dict) -> Path:
    """Write a complete custom-voice model to ``out`` (temporary directory, then rename)."""
    from safetensors.torch import save_file

    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for child in base_dir.iterdir():
            if child.name.endswith(".safetensors") or child.name.endswith(".safetensors.index.json"):
                continue
            if child.name in ("config.json", META_FILE, MODEL_META_FILE) or child.name.startswith("."):
                continue
            _link_or_copy(child, tmp / child.name)
        config = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
        config["tts_model_type"] = "custom_voice"
        talker_cfg = config.setdefault("talker_config", {})
        talker_cfg["spk_id"] = {speaker: SPEAKER_ROW}
        talker_cfg["spk_is_dialect"] = {speaker: False}
        (tmp / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
        state = {
            k: v.detach().to("cpu").contiguous().clone()
            for k, v in model.state_dict().items()
            if not k.startswith("speaker_encoder.")
        }
        row = state["talker.model.codec_embedding.weight"]
        row[SPEAKER_ROW] = speaker_embedding.detach().to("cpu", row.dtype)
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# ---------------------------------------------------------------------------- main


def main(spec: dict[str, Any]) -> None:
    import numpy as np
    import torch
    from accelerate import Accelerator

    from tuneforge.audio.decode import decode
    from tuneforge.services.tts.config import TtsTrainingConfig
    from tuneforge.services.tts.qwen_env import import_qwen_tts, pick_device, resolve_base_model

    cfg = TtsTrainingConfig().merged(spec.get("config") or {})
    qwen_tts = import_qwen_tts(warn=lambda m: ev.log(m, level="warning"))
    out_dir = Path(spec["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    base_dir = resolve_base_model(cfg.base_model)

    # ---- setup
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    device = pick_device(spec.get("device"))
    use_bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    accelerator = Accelerator(
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        mixed_precision="bf16" if use_bf16 else "no",
        cpu=device == "cpu",
    )
    ev.log(f"loading {base_dir} (attn sdpa, {'bf16' if use_bf16 else 'fp32'}) on {accelerator.device}")
    tts = qwen_tts.Qwen3TTSModel.from_pretrained(
        str(base_dir), attn_implementation="sdpa", dtype=torch.float32
    )
    model = tts.model
    if model.tts_model_type != "base" or model.speaker_encoder is None:
        raise invalid_argument("base_model", f"needs a Qwen3-TTS *Base* model (got {model.tts_model_type})",
                               reason="UNSUPPORTED_MODEL")  # fmt: skip
    tc = model.config.talker_config
    if tc.vocab_size <= SPEAKER_ROW:
        raise invalid_argument("base_model", f"talker vocab {tc.vocab_size} has no row {SPEAKER_ROW} for a speaker")
    rows = load_rows(Path(spec["train_jsonl"]), tc.num_code_groups, tc.vocab_size - 1024)
    items = encode_rows(rows, tts.processor)

    ref_wav, _ = decode(rows[0]["ref_audio"], SAMPLE_RATE)
    model.to(accelerator.device)
    speaker_embedding = model.extract_speaker_embedding(ref_wav, SAMPLE_RATE).clone().float()
    for p in model.speaker_encoder.parameters():
        p.requires_grad_(False)
    model.talker.train()

    generator = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(
        items, batch_size=cfg.batch_size, shuffle=True, generator=generator,
        collate_fn=lambda b: collate(b, model.config),
    )  # fmt: skip
    params = [p for p in model.talker.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    talker, optimizer, loader = accelerator.prepare(model.talker, optimizer, loader)
    model.talker = talker

    steps_per_epoch = math.ceil(len(loader) / cfg.gradient_accumulation_steps)
    total_steps = steps_per_epoch * cfg.num_epochs
    ev.log(f"{len(items)} clips, {len(loader)} batches/epoch, {total_steps} optimizer steps")
    (out_dir / MODEL_META_FILE).write_text(json.dumps({
        "name": spec.get("model_name") or out_dir.name, "speaker_name": cfg.speaker_name,
        "base_model": cfg.base_model, "config": cfg.as_dict(),
        "create_time": datetime.now(timezone.utc).isoformat(), "clips": len(items),
    }, indent=2) + "\n", encoding="utf-8")  # fmt: skip

    # ---- train
    checkpoints: list[str] = []
    step, started, last_loss = 0, time.monotonic(), None
    acc = {"loss": 0.0, "talker": 0.0, "sub": 0.0, "n": 0}

    def meta(epoch: float) -> dict[str, Any]:
        return {"epoch": epoch, "step": step, "loss": last_loss, "speaker_name": cfg.speaker_name,
                "base_model": cfg.base_model, "config": cfg.as_dict(),
                "create_time": datetime.now(timezone.utc).isoformat()}  # fmt: skip

    def save(name: str, epoch: float) -> None:
        path = save_checkpoint(accelerator.unwrap_model(model), base_dir, out_dir / name,
                               cfg.speaker_name, speaker_embedding, meta(epoch))  # fmt: skip
        checkpoints.append(str(path))
        ev.checkpoint(step, path)

    for epoch in range(cfg.num_epochs):
        for i, batch in enumerate(loader):
            if ev.stop_requested():
                save(f"checkpoint-stopped-step-{step}", epoch + i / len(loader))
                ev.result(_result(out_dir, cfg, checkpoints, epoch, step, last_loss, True))
                return
            with accelerator.accumulate(talker):
                loss, t_loss, s_loss = compute_loss(model, batch, speaker_embedding, cfg.sub_talker_loss_weight)
                accelerator.backward(loss)
                grad_norm = None
                if accelerator.sync_gradients:
                    grad_norm = accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            acc["loss"] += loss.item(); acc["talker"] += t_loss.item(); acc["sub"] += s_loss.item(); acc["n"] += 1  # noqa: E702
            if accelerator.sync_gradients:
                step += 1
                n = acc["n"]
                last_loss = acc["loss"] / n
                ep = epoch + (i + 1) / len(loader)
                ev.metrics(step=step, epoch=round(ep, 4), loss=last_loss, talker_loss=acc["talker"] / n,
                           sub_talker_loss=acc["sub"] / n, learning_rate=cfg.learning_rate,
                           grad_norm=float(grad_norm) if grad_norm is not None else None)  # fmt: skip
                elapsed = time.monotonic() - started
                ev.progress(phase="training", step=step, total=total_steps, epoch=round(ep, 4),
                            eta_seconds=elapsed / step * (total_steps - step))  # fmt: skip
                acc = {"loss": 0.0, "talker": 0.0, "sub": 0.0, "n": 0}
        save(f"checkpoint-epoch-{epoch + 1}", float(epoch + 1))
    ev.result(_result(out_dir, cfg, checkpoints, cfg.num_epochs, step, last_loss, False))


def _result(out_dir, cfg, checkpoints, epochs, step, loss, stopped) -> dict[str, Any]:
    return {"model_dir": str(out_dir), "speaker_name": cfg.speaker_name, "checkpoints": checkpoints,
            "epochs_completed": epochs, "steps": step, "final_loss": loss, "stopped": stopped}  # fmt: skip


if __name__ == "__main__":
    ev.run_main(main)
