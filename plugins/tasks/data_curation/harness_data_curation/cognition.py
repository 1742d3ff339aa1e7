"""Prior knowledge on web-text quality for pretraining data that the researcher may be shown.

Written for this plugin from the works named in each item's ``source``; every threshold is
the source's own. Each item says what to check or change in a ``curate(docs)`` program
(stdlib only, whole corpus in one call, per-category rules keyed by ``doc["category"]``).
"""

from __future__ import annotations

from harness.driver_task import cognition_items

ROWS: tuple[tuple[str, str, str], ...] = (
    (
        "quality_rules",
        "Scaling Language Models: Methods, Analysis & Insights from Training Gopher (Rae et "
        "al., 2021, arXiv:2112.11446), MassiveWeb quality filters",
        "Gopher drops a document with fewer than 50 or more than 100,000 words, a mean word "
        "length outside 3 to 10 characters, a symbol-to-word ratio above 0.1 for '#' or "
        "ellipsis, more than 90% of lines starting with a bullet, more than 30% of lines "
        "ending with an ellipsis, or fewer than 80% of words containing a letter. It also "
        "requires at least two of the stopwords the, be, to, of, and, that, have, with, which "
        "removes keyword lists, tables and non-English text cheaply.",
    ),
    (
        "repetition",
        "Scaling Language Models: Methods, Analysis & Insights from Training Gopher (Rae et "
        "al., 2021, arXiv:2112.11446), repetition removal",
        "Gopher removes a document when duplicate lines exceed 30% of its lines or duplicate "
        "paragraphs 30% of its paragraphs, or when characters in duplicate lines or "
        "paragraphs exceed 20%. It also caps the character share of the most frequent 2-, 3- "
        "and 4-gram at 0.20, 0.18 and 0.16, and the share of characters inside duplicated "
        "5- to 10-grams at 0.15 down to 0.10. These catch keyword-stuffed spam and "
        "templated pages; compute them per document with collections.Counter.",
    ),
    (
        "quality_rules",
        "Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer "
        "(Raffel et al., 2020, JMLR 21), the C4 filters",
        "C4 keeps only lines that end in terminal punctuation and contain at least 5 words, "
        "discards pages with fewer than 3 sentences, drops lines containing 'javascript' and "
        "lines with policy notices ('terms of use', 'privacy policy', 'cookie policy', 'uses "
        "cookies', 'use of cookies', 'use cookies'), and removes pages containing 'lorem "
        "ipsum', a curly bracket or a bad-words list entry. Line-level rules like these clean "
        "a page instead of dropping it; the curly-bracket rule would also remove code and "
        "maths, so a tech or math category needs its own rule.",
    ),
    (
        "dedup",
        "Exploring the Limits of Transfer Learning with a Unified Text-to-Text Transformer "
        "(Raffel et al., 2020, JMLR 21), C4 deduplication and language filter",
        "C4 discards all but one of any three-sentence span that occurs more than once in "
        "the data set, and keeps only pages that langdetect classifies as English with "
        "probability at least 0.99. Span-level deduplication removes repeated boilerplate "
        "and syndicated passages that document-level hashing misses.",
    ),
    (
        "quality_rules",
        "The FineWeb Datasets: Decanting the Web for the Finest Text Data at Scale (Penedo et "
        "al., 2024, arXiv:2406.17557)",
        "On top of the Gopher and C4 filters, FineWeb added three filters chosen by ablation: "
        "remove a document when the fraction of lines ending with punctuation is at most "
        "0.12, when the fraction of lines of at most 30 characters is at least 0.67, or when "
        "too many of its characters sit in duplicated lines. Its English filter keeps "
        "fastText language scores of at least 0.65. It picked these metrics by comparing "
        "their distributions on a higher- and a lower-quality version of the same crawl, "
        "then confirmed each with small-model ablations.",
    ),
    (
        "dedup",
        "The FineWeb Datasets: Decanting the Web for the Finest Text Data at Scale (Penedo et "
        "al., 2024, arXiv:2406.17557), deduplication ablations",
        "FineWeb deduplicates with MinHash on word 5-grams, 112 hash functions split into 14 "
        "buckets of 8, targeting documents at least 75% similar. Deduplicating each crawl "
        "separately beat deduplicating all crawls together: global deduplication kept a "
        "small residue of older data that was of lower quality than what it removed. More "
        "aggressive deduplication is not automatically better.",
    ),
    (
        "classifier",
        "The FineWeb Datasets (Penedo et al., 2024, arXiv:2406.17557), FineWeb-Edu",
        "FineWeb-Edu annotated about 450k web samples with Llama-3-70B-Instruct for "
        "educational value on a 0 to 5 scale, trained a regressor on those labels and kept "
        "documents scoring at least 3. It raised knowledge and reasoning benchmarks such as "
        "MMLU and ARC most, and removed most of the data. Without a model, the analogue here "
        "is preferring encyclopedic, explanatory text over lists, ads and chatter.",
    ),
    (
        "classifier",
        "DataComp-LM: In search of the next generation of training sets for language models "
        "(Li et al., 2024, arXiv:2406.11794)",
        "DCLM's best filter is a fastText bigram classifier trained with instruction-like "
        "positives (OpenHermes-2.5 and high-scoring r/ExplainLikeImFive answers) against "
        "random RefinedWeb negatives, keeping the top 10% of documents by score. It beat "
        "perplexity filtering, AskLLM-style prompting and other model-based filters in their "
        "ablations; DCLM-Baseline trained a 7B model to 64% 5-shot MMLU on 2.6T tokens. A "
        "stdlib analogue is a small naive-Bayes word-bigram scorer fitted on documents that "
        "pass strict rules versus documents that fail them.",
    ),
    (
        "classifier",
        "Nemotron-CC: Transforming Common Crawl into a Refined Long-Horizon Pretraining "
        "Dataset (Su et al., 2024, arXiv:2412.02595)",
        "Nemotron-CC scores documents with an ensemble of three quality classifiers (its "
        "own, trained on Nemotron-340B annotations, plus the FineWeb-Edu and DCLM "
        "classifiers), buckets the scores and merges them into quality levels; the ensemble "
        "recalls more high-quality tokens than any single classifier. It also relies less "
        "on heuristic filters, which it found to remove high-quality tokens. A high-quality "
        "1.1T-token subset improved MMLU by 5.6 over DCLM for an 8B model trained on 1T "
        "tokens.",
    ),
    (
        "rewriting",
        "Nemotron-CC: Transforming Common Crawl into a Refined Long-Horizon Pretraining "
        "Dataset (Su et al., 2024, arXiv:2412.02595), synthetic rephrasing",
        "Instead of dropping low-quality documents, Nemotron-CC rephrases them in a "
        "Wikipedia-like style with an LLM to reduce noise, and turns high-quality ones into "
        "diverse question-answer pairs, distilled text, extracted knowledge and knowledge "
        "lists: 1.9T synthetic tokens next to 4.4T unique real ones. Its full 6.3T-token set "
        "matches DCLM on MMLU with four times more unique real tokens. Here the cheap form "
        "of the idea is salvage: rewrite a damaged document (strip its bad lines, fix its "
        "encoding) rather than drop it.",
    ),
    (
        "dedup",
        "On the resemblance and containment of documents (Broder, 1997, Compression and "
        "Complexity of Sequences)",
        "Broder defines resemblance as the Jaccard similarity of two documents' shingle "
        "sets and shows that the probability that two documents share the minimum of a "
        "random hash over their shingles equals that resemblance, so a short sketch of "
        "minimum hashes estimates it. A bottom-k sketch (the k smallest shingle hashes) does "
        "the same with one hash function. Use a stable hash (zlib.crc32 or hashlib), never "
        "Python's salted hash(), so results are identical across runs.",
    ),
    (
        "dedup",
        "Deduplicating Training Data Makes Language Models Better (Lee et al., 2022, ACL, "
        "arXiv:2107.06499)",
        "Lee et al. found one 61-word English sentence repeated over 60,000 times in C4 and "
        "train-test overlap in over 4% of standard validation sets. Removing near-duplicate "
        "documents (NearDup, MinHash) and repeated substrings (ExactSubstr, suffix array, "
        "repeats of at least 50 tokens) made models emit memorised text ten times less "
        "often and reach the same or better accuracy in fewer steps. Near duplicates are "
        "copies with small edits and different boilerplate, so compare documents after "
        "cleaning them.",
    ),
    (
        "dedup",
        "CCNet: Extracting High Quality Monolingual Datasets from Web Crawl Data (Wenzek et "
        "al., 2020, LREC); The RefinedWeb Dataset for Falcon LLM (Penedo et al., 2023, "
        "arXiv:2306.01116)",
        "CCNet removes duplicated paragraphs by hashing each normalised paragraph (SHA-1) "
        "and dropping repeats across the shard, which strips recurring navigation and "
        "legal text. RefinedWeb combines fuzzy MinHash deduplication with exact-substring "
        "removal of repeats of at least 50 tokens. Line- or paragraph-level hashing across "
        "the whole corpus is a cheap way to find boilerplate lines no pattern list names.",
    ),
    (
        "repetition",
        "Scaling Laws and Interpretability of Learning from Repeated Data (Hernandez et al., "
        "2022, arXiv:2205.10487)",
        "Repeating a small part of the data many times is disproportionately harmful: "
        "repeating 0.1% of the data 100 times, with the other 90% of tokens unique, degraded "
        "an 800M-parameter model to the performance of a 400M-parameter one. Exact and near "
        "duplicates, and the same boilerplate line on thousands of pages, are that kind of "
        "repetition.",
    ),
    (
        "pii",
        "Dolma: an Open Corpus of Three Trillion Tokens for Language Model Pretraining "
        "Research (Soldaini et al., 2024, ACL, arXiv:2402.00159)",
        "Dolma finds e-mail addresses, phone numbers and IP addresses with regular "
        "expressions, masks them with placeholder tokens and removes documents that contain "
        "many of them. Regex PII detection trades recall against false positives on dates, "
        "years, version numbers and statistics, so anchor patterns (an @ with a dotted "
        "domain, four dotted octets, digit groups of phone or card shape) and check them on "
        "clean science and tech text before dropping whole lines.",
    ),
    (
        "boilerplate",
        "Removing Boilerplate and Duplicate Content from Web Corpora (Pomikalek, 2011, PhD "
        "thesis, Masaryk University), the jusText algorithm",
        "jusText classifies each paragraph by length, stopword density and link density: "
        "link density above 0.2 makes it bad; under 70 characters it is short; from 200 "
        "characters with stopword density of at least 0.32 it is good, and between the low "
        "(0.30) and high (0.32) stopword thresholds near-good. Short and near-good "
        "paragraphs are then decided by their neighbours. For plain text, per-line length "
        "plus stopword density separates navigation bars, banners and footers from prose.",
    ),
    (
        "boilerplate",
        "Trafilatura: A Web Scraping Library and Command-Line Tool for Text Discovery and "
        "Extraction (Barbaresi, 2021, ACL-IJCNLP System Demonstrations)",
        "Trafilatura extracts the main text of an HTML page and discards navigation, "
        "comments, footers and sharing widgets; RefinedWeb and FineWeb use it, and FineWeb "
        "found extraction from raw HTML with trafilatura better than Common Crawl's own WET "
        "text. When only text with markup residue is available, remove script and style "
        "blocks and comments first, then tags, then decode entities, so that script bodies "
        "never leak into the text.",
    ),
    (
        "language",
        "Bag of Tricks for Efficient Text Classification (Joulin et al., 2017, EACL), the "
        "fastText lid.176 model; CCNet (Wenzek et al., 2020, LREC)",
        "fastText's lid.176 identifies 176 languages from character n-grams. CCNet keeps "
        "documents whose language score is at least 0.5; RefinedWeb and FineWeb use 0.65 "
        "for English. Without the model, the share of English function words is a strong "
        "proxy: French and Spanish prose has almost none of the, of, and, was, which, while "
        "English prose is dense with them.",
    ),
    (
        "encoding",
        "ftfy: fixes text for you (Speer, 2019, Zenodo, doi:10.5281/zenodo.2591652, "
        "https://github.com/rspeer/python-ftfy)",
        "ftfy repairs mojibake, text whose UTF-8 bytes were decoded as cp1252 or latin-1 "
        "(for example 'Ã©' for 'é', 'â€™' for a right quote), by re-encoding suspicious "
        "sequences and decoding them as UTF-8, and uses a badness heuristic so it leaves "
        "correct text alone. In stdlib code: re-encode runs of cp1252/latin-1 characters "
        "and accept the result only when it decodes cleanly as UTF-8; delete U+FFFD, which "
        "cannot be repaired.",
    ),
    (
        "perplexity",
        "CCNet: Extracting High Quality Monolingual Datasets from Web Crawl Data (Wenzek et "
        "al., 2020, LREC)",
        "CCNet scores every paragraph with a 5-gram KenLM language model trained on "
        "Wikipedia of the same language and splits documents into head, middle and tail "
        "thirds by perplexity. This is the signal that separates fluent-looking word salad "
        "from prose, which rules based on words and characters cannot: a word-bigram model "
        "fitted in curate() on documents that pass strict rules, scoring each document's "
        "average log-probability, is a stdlib-sized version of it.",
    ),
    (
        "pipeline",
        "The RefinedWeb Dataset for Falcon LLM: Outperforming Curated Corpora with Web Data, "
        "and Web Data Only (Penedo et al., 2023, arXiv:2306.01116)",
        "RefinedWeb showed that web data alone, stringently filtered and deduplicated, can "
        "train models that match models trained on curated corpora. Its pipeline: URL "
        "filtering, trafilatura extraction, fastText English score of at least 0.65, Gopher "
        "repetition and quality rules, line-wise corrections that remove navigation, "
        "social-media counters and similar lines, then MinHash and exact-substring "
        "deduplication.",
    ),
    (
        "pipeline",
        "Dolma: an Open Corpus of Three Trillion Tokens for Language Model Pretraining "
        "Research (Soldaini et al., 2024, ACL, arXiv:2402.00159)",
        "Dolma's web pipeline combines Gopher's quality rules with C4's "
        "terminal-punctuation rule, removes duplicate paragraphs with a Bloom filter and "
        "masks PII, and chose each step by training small models on ablated corpora rather "
        "than by inspecting text. Treat each rule as an experiment: its value is the change "
        "in the proxy's score, not how dirty the removed text looks.",
    ),
    (
        "categories",
        "ASI-Evolve: AI Accelerates AI (Xu et al., 2026, arXiv:2603.29640), Section 4.2 "
        "pretraining-data curation",
        "ASI-Evolve evolves category-specific curation strategies for Nemotron-CC's academic "
        "and STEM categories, using quality issues found by inspecting samples of each "
        "category: HTML artefacts, incomplete fragments, formatting inconsistencies and "
        "domain-specific noise. The strategies it found are cleaning-focused: targeted noise "
        "removal (HTML, duplicates, PII), normalisation of whitespace and punctuation, and "
        "domain-aware preservation rules with measurable thresholds and explicit rules about "
        "what to keep.",
    ),
    (
        "categories",
        "ASI-Evolve: AI Accelerates AI (Xu et al., 2026, arXiv:2603.29640), Table 2",
        "A 3B model trained on 500B tokens of the evolved Nemotron-CC_ASI+ data averaged "
        "44.13 over 18 benchmarks against 40.17 for raw Nemotron-CC (+18.64 MMLU, +13.48 "
        "MedQA), but lost on HellaSwag (-3.11), DROP (-1.08) and PIQA (-0.64). Cleaning "
        "tuned per category can help knowledge-heavy text and hurt the everyday, "
        "conversational text other tasks depend on, so check every category's clean recall, "
        "not only the average.",
    ),
    (
        "over_filtering",
        "Scaling Data-Constrained Language Models (Muennighoff et al., 2023, NeurIPS, "
        "arXiv:2305.16264)",
        "With a fixed compute budget and limited unique data, training for up to 4 epochs "
        "on repeated data changed loss negligibly compared with unique data, and the value "
        "of further repetition decayed towards zero. A filter that removes clean documents "
        "shrinks the unique pool; it costs little while the training budget is under a few "
        "epochs of the kept data and a lot beyond that, so keep clean recall high.",
    ),
    (
        "over_filtering",
        "Beyond neural scaling laws: beating power law scaling via data pruning (Sorscher et "
        "al., 2022, NeurIPS, arXiv:2206.14486)",
        "Which examples to prune depends on how much data there is: with abundant data, "
        "keeping the hard examples is best; with scarce data, keeping the easy ones is. "
        "Under a token budget far below one epoch of the kept corpus, as in this task's "
        "proxy, every junk token removed is replaced by a clean one, so the main lever is "
        "precision (removing junk), and over-filtering only shows once the kept corpus "
        "nears the budget.",
    ),
)

COGNITION = cognition_items(ROWS)
