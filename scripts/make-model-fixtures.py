#!/usr/bin/env python3
"""Builds the tiny model fixtures of tests/fixtures/models/ and their reference outputs.

Run by hand, never by CI (it needs torch, transformers and tokenizers from PyPI):

    python3 -m venv /tmp/fixtures-venv
    /tmp/fixtures-venv/bin/pip install torch transformers tokenizers safetensors pillow
    /tmp/fixtures-venv/bin/python scripts/make-model-fixtures.py
    # real-size architectures with random weights, for speed figures (not committed):
    /tmp/fixtures-venv/bin/python scripts/make-model-fixtures.py --full-size target/full-size-models

Each fixture is a randomly initialised model of a real family (CLIP, OpenCLIP-style CLIP,
SigLIP, SigLIP 2, DINOv2, DINOv2 with registers) with a tiny configuration, saved in the
Hugging Face layout by `save_pretrained` (config.json, model.safetensors, the processor's
preprocessor_config.json, tokenizer.json and tokenizer_config.json for text models), plus:

- reference.safetensors: `pixel_values` (the processor's output for the sample photos),
  `image_embeds` (the model's image features for those pixel values, not normalised) and,
  for text models, `text_embeds` (one row per text in reference.json's `embedded_texts`);
- reference.json: the photos, the 200 tokenizer strings and their token ids, the texts
  embedded, and the versions that produced them.

Every parameter is perturbed away from its initial value (layer norms included), so that a
tensor loaded into the wrong place shows in the outputs. The tokenizers are trained on
the strings below, in the layouts of the real ones (CLIP's byte-level BPE with `</w>`, and
Gemma's BPE with byte fallback, used by SigLIP 2).
"""

import json
import os
import sys

import torch
import transformers
import tokenizers
from PIL import Image
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "models")
PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg", "camera.png"]

BASE_STRINGS = [
    "a dog on the beach",
    "A photo of a cat sleeping on a red sofa",
    "sunset over the mountains, 2019",
    "two people riding bicycles in Amsterdam",
    "close-up of a coffee cup with latte art",
    "a rocket launching at night!!!",
    "black and white portrait of an old man",
    "screenshot of a spreadsheet with numbers 1,234.56",
    "the Eiffel Tower in the rain",
    "children playing football in the park",
    "犬が浜辺で走っている",
    "夕焼けの富士山",
    "東京の夜景と桜",
    "一只猫在沙发上睡觉",
    "北京的长城和蓝天",
    "海边的日落",
    "собака на пляже",
    "Красная площадь зимой",
    "кошка спит на диване",
    "🐶🏖️ dog beach",
    "birthday cake 🎂 with candles 🕯️🕯️",
    "🚀 launch",
    "café au lait, crème brûlée",
    "Straße in München bei Nacht",
    "ça va? très bien",
    "  leading and   multiple   spaces  ",
    "UPPER CASE WORDS",
    "tabs\tand\nnewlines",
    "don't won't it's we're they've I'm you'll he'd",
    "x" * 300,
    "word " * 100,
    "",
    "a",
    "12345 67890",
    "#hashtag @mention https://example.com/path?q=1",
    "Ελληνικά γράμματα",
    "עברית מימין לשמאל",
    "العربية من اليمين",
    "हिन्दी भाषा",
    "한국어 문장입니다",
]


def strings_200():
    """200 strings: the base set, then mixtures of its words, deterministically."""
    out = list(BASE_STRINGS)
    words = " ".join(BASE_STRINGS[:29]).split()
    i = 0
    while len(out) < 200:
        n = 1 + (i * 7) % 9
        out.append(" ".join(words[(i * 13 + j * 5) % len(words)] for j in range(n)))
        i += 1
    return out


def corpus():
    return strings_200() * 3 + [
        "the quick brown fox jumps over the lazy dog",
        "photo picture image camera lens light shadow colour color",
    ]


def clip_tokenizer():
    """A byte-level BPE in the layout of openai/clip-vit-base-patch32's tokenizer.json."""
    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>", continuing_subword_prefix=""))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(
                    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
                ),
                behavior="removed",
                invert=True,
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=900,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer)
    # As in CLIP, the start and end tokens come last: the end token has the highest id.
    tok.add_special_tokens(["<|startoftext|>", "<|endoftext|>"])
    bos, eos = tok.token_to_id("<|startoftext|>"), tok.token_to_id("<|endoftext|>")
    from tokenizers import processors

    tok.post_processor = processors.RobertaProcessing(
        ("<|endoftext|>", eos), ("<|startoftext|>", bos), add_prefix_space=False, trim_offsets=False
    )
    fast = transformers.CLIPTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=77,
    )
    return fast, bos, eos


def gemma_tokenizer():
    """A BPE with byte fallback in the layout of Gemma's tokenizer.json (SigLIP 2's)."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=specials + ["<0x%02X>" % i for i in range(256)],
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer)
    fast = transformers.GemmaTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
        add_bos_token=False,
        add_eos_token=True,
        model_max_length=64,
    )
    return fast


def perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
            if "layer_scale" in name or "lambda1" in name:
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
    return model


def features(out):
    """transformers 5 returns model outputs from get_*_features; 4 returned tensors."""
    if isinstance(out, torch.Tensor):
        return out
    return out.pooler_output


def photos():
    return [Image.open(os.path.join(ROOT, "samples", "photos", p)).convert("RGB") for p in PHOTOS]


def write(name, model, processor, tokenizer, text_embed, notes, half=False):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    model.eval()
    if half:
        # f16 weights; the references are computed from the rounded weights in f32.
        model = model.half()
        model.save_pretrained(folder, safe_serialization=True)
        model = model.float()
    else:
        model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    pixel_values = processor(images=photos(), return_tensors="pt")["pixel_values"].float()
    tensors = {"pixel_values": pixel_values.contiguous()}
    ref = {
        "family": notes,
        "photos": PHOTOS,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
    }
    with torch.no_grad():
        if hasattr(model, "get_image_features"):
            image_embeds = features(model.get_image_features(pixel_values=pixel_values))
        else:
            image_embeds = model(pixel_values=pixel_values).pooler_output
        tensors["image_embeds"] = image_embeds.float().contiguous()
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)
            strings = strings_200()
            ref["strings"] = strings
            ref["token_ids"] = [tokenizer(s, truncation=True)["input_ids"] for s in strings]
            texts = strings[:24]
            ref["embedded_texts"] = texts
            tensors["text_embeds"] = torch.cat([text_embed(model, tokenizer, t) for t in texts]).float().contiguous()
    save_file(tensors, os.path.join(folder, "reference.safetensors"))
    with open(os.path.join(folder, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, indent=1)
        f.write("\n")
    for junk in ["special_tokens_map.json", "chat_template.jinja", "generation_config.json"]:
        path = os.path.join(folder, junk)
        if os.path.exists(path) and junk != "special_tokens_map.json":
            os.remove(path)
    print(name, {k: tuple(v.shape) for k, v in tensors.items()}, file=sys.stderr)


def clip_text_embed(model, tokenizer, text):
    ids = tokenizer(text, truncation=True, return_tensors="pt")
    return features(model.get_text_features(input_ids=ids["input_ids"]))


def siglip_text_embed(model, tokenizer, text):
    # As the SigLIP 2 model card says: lower-cased text, padded to 64 tokens.
    enc = tokenizer(text.lower(), padding="max_length", max_length=64, truncation=True, return_tensors="pt")
    return features(model.get_text_features(**enc))


def clip(name, hidden_act, eos_is_legacy, seed, half=False):
    tokenizer, bos, eos = clip_tokenizer()
    config = transformers.CLIPConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            hidden_act=hidden_act,
            bos_token_id=bos,
            eos_token_id=2 if eos_is_legacy else eos,
            pad_token_id=eos,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=64,
            patch_size=16,
            hidden_act=hidden_act,
        ),
        projection_dim=24,
    )
    torch.manual_seed(seed)
    model = perturb(transformers.CLIPModel(config), seed)
    processor = transformers.CLIPImageProcessor(
        size={"shortest_edge": 64},
        crop_size={"height": 64, "width": 64},
    )
    write(name, model, processor, tokenizer, clip_text_embed, "clip", half=half)


def siglip(name, with_text, seed):
    tokenizer = gemma_tokenizer() if with_text else None
    config = transformers.SiglipConfig(
        text_config=dict(
            vocab_size=len(tokenizer) if tokenizer else 1000,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=64,
            projection_size=32,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=64,
            patch_size=16,
        ),
    )
    torch.manual_seed(seed)
    model = perturb(transformers.SiglipModel(config), seed)
    processor = transformers.SiglipImageProcessor(size={"height": 64, "width": 64})
    write(name, model, processor, tokenizer, siglip_text_embed, "siglip")


def dinov2(name, registers, seed):
    common = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        mlp_ratio=4,
        image_size=98,
        patch_size=14,
    )
    torch.manual_seed(seed)
    if registers:
        config = transformers.Dinov2WithRegistersConfig(num_register_tokens=4, **common)
        model = transformers.Dinov2WithRegistersModel(config)
    else:
        config = transformers.Dinov2Config(**common)
        model = transformers.Dinov2Model(config)
    model = perturb(model, seed)
    processor = transformers.BitImageProcessor(
        size={"shortest_edge": 64},
        crop_size={"height": 56, "width": 56},
        do_center_crop=True,
        resample=3,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
        do_convert_rgb=True,
    )
    write(name, model, processor, None, None, "dinov2")


def full_size(out):
    """Real-size architectures with random weights, f16, for speed figures only."""
    torch.set_num_threads(2)
    clip_tok, bos, eos = clip_tokenizer()
    gemma_tok = gemma_tokenizer()
    clip_proc = lambda s: transformers.CLIPImageProcessor(size={"shortest_edge": s}, crop_size={"height": s, "width": s})
    dino_proc = transformers.BitImageProcessor(
        size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, do_center_crop=True, resample=3,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
    )
    specs = [
        ("clip-vit-b32", transformers.CLIPModel(transformers.CLIPConfig(
            text_config=dict(eos_token_id=2), vision_config=dict(patch_size=32), projection_dim=512)), clip_proc(224), clip_tok),
        ("clip-vit-b16", transformers.CLIPModel(transformers.CLIPConfig(
            text_config=dict(eos_token_id=2), vision_config=dict(patch_size=16), projection_dim=512)), clip_proc(224), clip_tok),
        ("clip-vit-l14", transformers.CLIPModel(transformers.CLIPConfig(
            text_config=dict(eos_token_id=2, hidden_size=768, intermediate_size=3072, num_attention_heads=12),
            vision_config=dict(patch_size=14, hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                               num_attention_heads=16), projection_dim=768)), clip_proc(224), clip_tok),
        ("siglip2-b16", transformers.SiglipModel(transformers.SiglipConfig(
            text_config=dict(vocab_size=256000), vision_config=dict(patch_size=16, image_size=224))),
         transformers.SiglipImageProcessor(size={"height": 224, "width": 224}), gemma_tok),
        ("dinov2-s14", transformers.Dinov2Model(transformers.Dinov2Config(
            hidden_size=384, num_attention_heads=6, image_size=518, patch_size=14)), dino_proc, None),
        ("dinov2-b14", transformers.Dinov2Model(transformers.Dinov2Config(
            hidden_size=768, num_attention_heads=12, image_size=518, patch_size=14)), dino_proc, None),
    ]
    for name, model, processor, tokenizer in specs:
        folder = os.path.join(out, name)
        model.half().save_pretrained(folder, safe_serialization=True)
        processor.save_pretrained(folder)
        if tokenizer is not None:
            tokenizer.save_pretrained(folder)
        print(name, sum(p.numel() for p in model.parameters()), file=sys.stderr)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--full-size":
        full_size(sys.argv[2])
        return
    torch.set_num_threads(2)
    clip("clip-tiny", "quick_gelu", eos_is_legacy=True, seed=1)
    clip("openclip-tiny", "gelu", eos_is_legacy=False, seed=2)
    clip("clip-tiny-f16", "quick_gelu", eos_is_legacy=True, seed=3, half=True)
    siglip("siglip2-tiny", with_text=True, seed=4)
    siglip("siglip-tiny-image-only", with_text=False, seed=5)
    dinov2("dinov2-tiny", registers=False, seed=6)
    dinov2("dinov2-registers-tiny", registers=True, seed=7)


if __name__ == "__main__":
    main()
