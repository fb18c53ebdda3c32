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
