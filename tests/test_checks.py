"""The checks on a model's prose: numbers the paper supports, Chinese share, copied runs of words, first person,
English words left in Chinese, technical terms."""
from __future__ import annotations

from chatpaper import checks


def test_number_matching_rules():
    paper_numbers = checks.numbers_in("accuracy 0.931 on 1,200 images; 45.0 PSNR; 2x faster")
    assert checks.unsupported_numbers("93.1% on 1200 images, 45 PSNR, 17 runs, 4.5 dB", paper_numbers) == ["17", "4.5"]
    assert checks.checkable_numbers("3 GPUs, ResNet-50, 12.5 %, 0.9, 2021") == ["12.5 %", "0.9", "2021"]


def test_cjk_share_excludes_terms_names_and_code():
    assert checks.cjk_share("本文提出 NeRF 方法，PSNR 提高。") == 1.0
    assert checks.cjk_share("Rongkai Ma 提出了新方法。", exclude=("Rongkai Ma",)) == 1.0
    assert checks.cjk_share("This paper proposes a method 方法") < 0.2
    assert not checks.has_cjk("An English sentence.") and checks.has_cjk("中文")


def test_prose_checks():
    runs = checks.word_runs("Each expert is trained on its own group of similar training views and then distilled.")
    assert checks.copied("Here each expert is trained on its own group of similar training views and then it ends.", runs)
    assert not checks.copied("Each expert is trained on its own group of views.", runs)
    assert checks.third_person("We propose our method; it helps us.") == "The authors propose their method; it helps them."
    assert checks.english_words("本文提出 NeRF 的 pruning 方法，见 https://x.org/abcd。") == ["pruning"]
    assert checks.technical_terms("NeRF and NeRF use PSNR, PSNR, PSNR; IEEE II II ResNet-50 ResNet-50 Also") == [
        "PSNR", "NeRF", "ResNet-50"] or checks.technical_terms("NeRF NeRF PSNR PSNR PSNR")[0] == "PSNR"


# ------------------------------------------------------------------------------ names instead of paraphrase
import random  # noqa: E402

_LONG = ["neural radiance field", "peak signal-to-noise ratio", "mean average precision", "graph convolution network",
         "large language model", "Microsoft Academic Graph", "iterative closest point", "multi-instance learning"]


def _short_of(long: str, rng: random.Random) -> str:
    """A short form as papers write them: the initials in capitals, sometimes with a plural s or a lower letter."""
    initials = "".join(w[0] for w in long.replace("-", " ").split())
    short = initials.upper()
    return rng.choice([short, short + "s", initials[0].lower() + short[1:]])


def test_a_paper_s_defined_short_forms_are_read_with_their_long_forms():
    rng = random.Random(3)
    for _ in range(30):
        long = rng.choice(_LONG)
        short = _short_of(long, rng)
        lead = " ".join(rng.sample(["We", "train", "a", "model", "and", "report", "the", "new"], 4))
        text = f"{lead} {long} ({short}) on two datasets. Figure (A) and (Smith, 2020) define nothing."
        assert checks.abbreviations(text) == {short: long}
    # Line-broken hyphens are joined; letters out of order, or a parenthesis of plain words, are no definition.
    assert checks.abbreviations("the peak sig-\nnal-to-noise ratio (PSNR)") == {"PSNR": "peak signal-to-noise ratio"}
    assert checks.abbreviations("a network of pruned channels (XQZ), then (see appendix)") == {}


def test_a_long_form_in_prose_gets_the_paper_s_short_form_once_and_never_twice():
    forms = {"NeRF": "Neural Radiance Fields", "PSNR": "peak signal-to-noise ratio"}
    got = checks.with_short_forms("It builds on neural radiance fields and reports peak signal-to-noise ratio; "
                                  "neural radiance fields again.", forms)
    assert got == ("It builds on neural radiance fields (NeRF) and reports peak signal-to-noise ratio (PSNR); "
                   "neural radiance fields again.")
    assert checks.with_short_forms("NeRF is neural radiance fields.", forms) == "NeRF is neural radiance fields."
    assert checks.with_short_forms("Neural radiance fields (an MLP) render.", forms) == "Neural radiance fields (an MLP) render."


def test_the_method_s_name_comes_from_the_title_head_or_the_abstract_s_own_wording():
    rng = random.Random(5)
    names = ["PyNeRF", "SPECTER", "MapReduce", "CL4D", "Mip-NeRF", "GPT-4", "SegNeXt", "3DiM"]
    for _ in range(20):
        name = rng.choice(names)
        tail = " ".join(rng.sample(["Pyramidal", "Fields", "Learning", "for", "Scenes", "Fast", "Documents"], 3))
        assert checks.method_name(f"{name}: {tail}") == name
        verb = rng.choice(["We propose {}, a", "Our method, {}, uses", "which we call {}.", "a model dubbed {} that"])
        assert checks.method_name(f"{tail} with Diffusion Models", "Prior work is slow. " + verb.format(name)) == name
    # A capitalised phrase is no name; nor is a term of a title without the "Name:" head (it may be the baseline).
    assert checks.method_name("Maximum Margin Multi-Instance Learning", "We propose Multi-Instance boosting.") == ""
    assert checks.method_name("Improving NeRF with Depth", "Depth helps NeRF.") == ""
    assert checks.with_method_name("The proposed method is fast. The new approach is fast.", "DaC") == \
        "DaC is fast. The new approach is fast."
    assert checks.with_method_name("The authors' framework beats DaC.", "DaC") == "The authors' framework beats DaC."


def test_a_method_step_that_is_a_section_heading_or_a_bare_phrase_is_no_step():
    headings = ["1 Introduction", "2 Related Work", "3.1 Training Details of the Model"]
    for step in ["Introduction", "(2) Related Work", "3.1 Training Details of the Model", "Evaluation of CL4D",
                 "II. Method"]:
        assert checks.heading_like(step, headings), step
    for step in ["Distil the experts.", "Fine-tune SciBERT on citation triplets", "Group the views by similarity."]:
        assert not checks.heading_like(step, headings), step


def test_technical_terms_leave_out_cited_people_and_section_labels_and_read_adjectives_as_the_term():
    text = ("Sanchez-Stern et al. built a prover. Like Sanchez-Stern and Brown (2020), COPRA searches proofs. "
            "COPRA uses GPT-4. A CNN-based encoder and a CNN decoder; see III-D and III-D. GPT-4 proves it. "
            "Sanchez-Stern, 2021 is cited again. COPRA is fast.")
    terms = checks.technical_terms(text)
    assert terms[:3] == ["COPRA", "GPT-4", "CNN"]  # CNN: twice, once as "CNN-based"
    assert "Sanchez-Stern" not in terms and "III-D" not in terms and "CNN-based" not in terms
    # A name used as a method more often than cited stays a term.
    assert "Metropolis-Hastings" in checks.technical_terms(
        "Metropolis-Hastings sampling. We run Metropolis-Hastings. Metropolis-Hastings et al. is not a paper.")
