"""`locate` (logit-lens attribution of layers and neurons) and `similarity` (representation
similarity of a pair, layer by layer)."""
from __future__ import annotations

import argparse
from typing import Any

from .common import (MODEL, SPLITS, add_common_flags, non_negative, positive, print_json,
                     task_help)


def locate_example(prompt: str, answer: str, chat: bool = True) -> tuple[str, str]:
    """The (text, answer) `locate` reads. With `chat`, as the lab's Locate tab (lab.locate_pair)
    builds it, so both agree on one input: stripped, the prompt as the chat's user turn; else as
    typed."""
    from ..tasks import render_chat

    if chat and not prompt.strip():
        raise ValueError("the prompt is empty")
    return (render_chat(prompt.strip()), answer.strip()) if chat else (prompt, answer)


def cmd_locate(args: argparse.Namespace) -> int:
    from ..locate import LocateConfig, locate
    from ..models.provider import MODELS

    example = locate_example(args.prompt, args.answer, args.chat)
    loaded = MODELS.get(args.model, device=args.device)
    config = LocateConfig(scale=args.scale, attn_term=args.attn_term)
    result = locate(loaded.model, loaded.tokenizer, loaded.spec, [example], config,
                    top_k=args.top_k)
    if args.json:
        print_json(result.to_json())
        return 0
    print(f"target token id {result.target_token_ids[0]}  ({result.seconds:.3f} s)")
    print("top attention layers:", result.top_attn_layers[:args.top_k])
    print("top FFN layers:      ", result.top_ffn_layers[:args.top_k])
    for layer in result.top_ffn_layers[:3]:
        print(f"  layer {layer} top FFN neurons:",
              list(result.top_neurons("ffn", layer, args.top_k)))
    return 0


def _similarity_texts(args: argparse.Namespace) -> tuple[list[str], str]:
    """The texts compared on and how the output describes them."""
    from ..tasks import get_task

    if args.text:
        return [args.text], "typed text"
    task = get_task(args.task)
    examples = task.split(args.split, args.seed)[:args.limit]
    described = f"{len(examples)} {args.task}/{args.split} examples"
    return [task.full_text(example) for example in examples], described


def cmd_similarity(args: argparse.Namespace) -> int:
    from ..analyse import representation_similarity
    from ..figures import save_figure, similarity_heatmaps
    from ..models.provider import MODELS

    teacher, student = MODELS.get(args.teacher), MODELS.get(args.student)
    texts, described = _similarity_texts(args)
    result = representation_similarity(teacher, student, texts, metric=args.metric,
                                       unbiased=args.unbiased, inputs_description=described)
    data = result.to_json()
    if args.html:
        save_figure(similarity_heatmaps(result), args.html, data=data)
    if args.json:
        print_json(data)
        return 0
    print(f"{args.metric} similarity, student layers × teacher layers, on {described}")
    for module in result.matrices:
        print(f"  {module:10} mean {result.mean[module]:+.3f}  std {result.std[module]:.3f}")
    return 0


def _add_locate_command(sub: Any) -> None:
    parser = sub.add_parser("locate", help="logit-lens attribution of layers and neurons")
    parser.add_argument("--model", required=True, help=MODEL)
    parser.add_argument("--prompt", required=True,
                        help="the question; with --chat, the chat's user turn")
    parser.add_argument("--answer", required=True,
                        help="the answer; its last token is the target")
    parser.add_argument("--chat", action=argparse.BooleanOptionalAction, default=True,
                        help="the prompt as a chat's user turn, as the lab's Locate tab has it "
                             "(default); --no-chat: as typed")
    parser.add_argument("--top-k", type=positive, default=10,
                        help="layers and neurons listed per layer")
    parser.add_argument("--scale", default="sigma_sqrt", choices=["sigma_sqrt", "rms"],
                        help="logit-lens scale: sigma_sqrt (released code's; default) or rms "
                             "(final norm's)")
    parser.add_argument("--attn-term", default="self", choices=["self", "summed"],
                        help="attention neurons: self (the last token's own term; default) or "
                             "summed (all)")
    add_common_flags(parser, "--device", "--json")
    parser.set_defaults(func=cmd_locate)


def _add_similarity_command(sub: Any) -> None:
    parser = sub.add_parser("similarity", help="representation similarity heatmaps of a pair")
    add_common_flags(parser, "--teacher", "--student", required=True)
    parser.add_argument("--task", default="facts", help=task_help("facts"))
    parser.add_argument("--split", default="test", choices=SPLITS,
                        help="the split compared on")
    parser.add_argument("--limit", type=positive, default=64,
                        help="examples compared on (default 64)")
    parser.add_argument("--text", default=None,
                        help="compare on this text instead of a task split")
    parser.add_argument("--metric", default="cka", choices=["cka", "cosine"],
                        help="the measure (default cka)")
    parser.add_argument("--unbiased", action="store_true", help="unbiased CKA estimator")
    parser.add_argument("--seed", type=non_negative, default=0,
                        help="the seed the splits are drawn with")
    parser.add_argument("--html", default=None,
                        help="save the heatmaps as standalone HTML (+ .json)")
    add_common_flags(parser, "--json")
    parser.set_defaults(func=cmd_similarity)


def add_analysis_commands(sub: Any) -> None:
    _add_locate_command(sub)
    _add_similarity_command(sub)
