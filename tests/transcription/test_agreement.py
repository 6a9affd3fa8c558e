from transcription.agreement import LocalAgreement


def test_words_settle_once_two_hypotheses_agree_and_never_unsettle():
    agreement = LocalAgreement()
    assert agreement.update("the cat".split()) == ([], ["the", "cat"])
    assert agreement.update("the cat sat".split()) == (["the", "cat"], ["sat"])
    # A later hypothesis that disagrees early does not take settled words back; agreement
    # goes on after them.
    assert agreement.update("a cat sat on".split()) == (["the", "cat", "sat"], ["on"])
    assert agreement.update("a cat sat on the mat".split()) == (["the", "cat", "sat", "on"],
                                                                 ["the", "mat"])


def test_agreement_ignores_case_and_punctuation():
    agreement = LocalAgreement()
    agreement.update("Hello, world".split())
    assert agreement.update("hello world.".split())[0] == ["hello", "world."]
