#!/usr/bin/env python3
"""Prompt sweep, reference side: caption preprocessing (PixArtAlphaPipeline._text_preprocessing
with clean_caption False / True, i.e. lower().strip() or _clean_caption twice with ftfy + bs4)
and T5 tokenization (padding max_length, truncation, max_length 120 and 16) for hand-written
tricky prompts plus seeded random compositions. bench/sweep/text_run.ts compares exactly.

Needs ftfy + beautifulsoup4 (not in /work/pydeps):
  pip install --target /tmp/pyextra ftfy==6.3.1 beautifulsoup4==4.15.0
  PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps:/tmp/pyextra python3 bench/sweep/text_gen.py
  npx tsx bench/sweep/text_run.ts
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ftfy  # noqa: E402,F401  (must be importable, else diffusers turns clean_caption off)
import bs4  # noqa: E402,F401
from diffusers import PixArtAlphaPipeline  # noqa: E402
from gen import python_tokenizer  # noqa: E402

OUT = '/tmp/sweep/text'

HAND = [
    'A photo of a cat',
    '  Leading and trailing spaces  ',
    'UPPER lower MiXeD',
    'Ünïcödé àccénts — em dash – en dash … ellipsis',
    '日本語のテキストと漢字、中文标点。한국어 텍스트',
    'emoji 🐱‍👤 👩🏽‍🚀 🏳️‍🌈 ❤️ 🔥🔥',
    '<p>Some <b>bold</b> html &amp; entities &quot;quoted&quot; &lt;tag&gt; &#39;x&#39; &nbsp;</p>',
    'visit https://www.example.com/path?a=1&b=2 or www.test.org now',
    '@user_name and #hashtag #AnotherOne',
    'IMG_20230101_123456.jpg and photo-1234.png and file.JPEG',
    'id 1234567890 abc123def456 0x1F 3.14159 1,000,000 12/31/2024 10:30am',
    '192.168.0.1 and 2001:db8::1',
    '"double quoted" \'single quoted\' “curly” ‘single curly’ «guillemets» „low“',
    'SchÃ¶n and â€œmojibakeâ€\x9d and cafÃ©',
    'ﬁne ligature ﬂ ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ ¹²³ ½ ™ ® ©',
    'tab\tnew\nline\r\ncrlf   multiple     spaces',
    'zero\u200bwidth\u200dspace\u00a0nbsp\u2009thin',
    '<extra_id_0> literal </s> and <pad> and <unk>',
    '***stars*** ---dashes--- ___under___ ...dots... !!!bang!!! ???',
    '(parens) [brackets] {braces} <angles> | pipes \\ backslash / slash',
    'free shipping!!! download now, 50% off, $19.99, €10, £5, ¥100',
    'a' * 300,
    ' '.join(['word'] * 150),
    '',
    '   ',
    '"Whole caption in quotes"',
    "'single whole caption'",
    ',leading comma',
    'trailing punctuation-',
    '.hidden',
    'The Eiffel Tower at night, 8k, trending on artstation, by Greg Rutkowski',
    'A cat. A dog! A bird? A fish; a frog: a snake...',
    'x' + ' ' * 50 + 'y',
    'numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 10000 100000',
    'math: a^2 + b^2 = c^2, e=mc², ∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷',
    'arrows → ← ↑ ↓ ⇒ and boxes ■ □ ▲ ● ★ ☆',
    'Cyrillic Привет мир, Greek Γειά σου κόσμε, Arabic مرحبا بالعالم, Hebrew שלום',
    'Thai สวัสดี, Hindi नमस्ते, Bengali হ্যালো',
    'combining: e\u0301 a\u0308 n\u0303 (decomposed)',
    'NFC vs NFD: é vs e\u0301',
    '&lt;script&gt;alert(1)&lt;/script&gt;',
    'shutterstock 123456789 getty images alamy',
    '1920x1080 4K UHD 16:9 wallpaper',
    'a—b–c‐d‑e‒f―g',
    'rock&roll, R&B, AT&T',
    '#1 best, no.2, № 3',
    'http://a.b/c.html and ftp://x.y',
    '<a href="https://x.com">link text</a> after',
    'caption with a (parenthesised note) and [tag]',
    'UPPERCASE SENTENCE WITH ACRONYMS NASA AND USA',
]

POOLS = [
    'the a an of cat dog house red blue green big small running photo painting portrait landscape city night sun moon'.split(),
    list('.,;:!?-–—…\'"“”‘’«»()[]{}<>/\\|@#$%^&*_+=~`'),
    list('áéíóúàèìòùâêîôûäëïöüçñøåæœßÁÉÍÓÚ'),
    list('日本語中文漢字한국어テキスト'),
    ['🐱', '👍🏽', '🏳️‍🌈', '❤️', '✨', '🎉', '👩‍🔬'],
    ['&amp;', '&quot;', '&lt;', '&gt;', '&#39;', '&nbsp;', '<b>', '</b>', '<br>', '<div>', '</div>'],
    ['https://example.com/x', 'www.abc.de', 'user@example.com', '@someone', '#tag', 'IMG_0001.JPG', '1234567', '3.5', '12:30'],
    ['\t', '\n', '  ', '\u00a0', '\u200b', '\u3000'],
    ['Ã©', 'â€™', 'â€œ', 'Ã¼', 'Â '],
    ['ﬁ', 'ＡＢＣ', '²', '½', '™', 'Ⅳ', '①'],
    ['</s>', '<pad>', '<extra_id_1>', '<unk>'],
]


def random_prompt(rng):
    n = rng.randint(1, 25)
    parts = []
    for _ in range(n):
        pool = rng.choice(POOLS) if rng.random() < 0.6 else POOLS[0]
        parts.append(rng.choice(pool))
    sep = rng.choice([' ', ' ', ' ', '', ', '])
    s = sep.join(parts)
    if rng.random() < 0.3:
        s = s.upper()
    return s


def main():
    os.makedirs(OUT, exist_ok=True)
    tok = python_tokenizer()
    pipe = PixArtAlphaPipeline(tokenizer=tok, text_encoder=None, transformer=None, vae=None, scheduler=None)
    rng = random.Random(1234)
    prompts = HAND + [random_prompt(rng) for _ in range(300)]
    cases = []
    for i, p in enumerate(prompts):
        for clean in (False, True):
            try:
                text = pipe._text_preprocessing(p, clean_caption=clean)[0]
            except Exception as e:  # noqa: BLE001
                cases.append({'i': i, 'prompt': p, 'clean': clean, 'error': f'{type(e).__name__}: {e}'})
                continue
            rec = {'i': i, 'prompt': p, 'clean': clean, 'text': text}
            for L in (120, 16):
                enc = tok([text], padding='max_length', max_length=L, truncation=True, add_special_tokens=True)
                rec[f'ids{L}'] = enc.input_ids[0]
                rec[f'mask{L}'] = enc.attention_mask[0]
            cases.append(rec)
    with open(os.path.join(OUT, 'cases.json'), 'w', encoding='utf-8') as f:
        json.dump({'cases': cases}, f, ensure_ascii=False, indent=0)
    print(len(cases), 'text cases')


if __name__ == '__main__':
    main()
