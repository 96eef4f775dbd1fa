"""Dataset loaders on fixture copies of each official layout, and on the shared real samples."""

from collections import Counter

import pytest

from edgedistill.data.datasets import DATASETS, load_dataset, loader_options

TESTED = {"gsc", "us8k", "esc50", "iemocap", "fsdd", "emodb", "folder", "manifest", "synth", "ravdess", "cremad", "tess"}


def test_every_registered_dataset_is_tested():
    assert set(DATASETS) == TESTED


def test_unknown_dataset_lists_known():
    with pytest.raises(ValueError, match="choose one of: gsc, us8k"):
        load_dataset("timit", ".")
    with pytest.raises(ValueError, match="has no option"):
        load_dataset("fsdd", ".", fold=1)
    assert "fold" in loader_options("us8k")


def splits_of(manifest):
    return Counter(i.split for i in manifest.items)


def speakers_by_split(manifest):
    out = {}
    for item in manifest.items:
        out.setdefault(item.split, set()).add(item.speaker)
    return out


def assert_speaker_disjoint(manifest):
    parts = speakers_by_split(manifest)
    names = sorted(parts)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            assert not parts[names[a]] & parts[names[b]], (names[a], names[b])


def test_fsdd_official_and_speaker_split(layout):
    root = layout("fsdd")
    m = load_dataset("fsdd", root)
    assert m.labels == [str(d) for d in range(10)] and len(m) == 480
    assert splits_of(m) == {"test": 200, "valid": 200, "train": 80}
    assert all(i.split == "test" for i in m.items if i.path.endswith(("_0.wav", "_4.wav")))
    s = load_dataset("fsdd", root, split="speaker", seed=3)
    assert_speaker_disjoint(s)
    assert set(splits_of(s)) == {"train", "valid", "test"}
    assert load_dataset("fsdd", root, split="speaker", seed=3).items == s.items


def test_fsdd_bad_names_are_problems_and_wrong_layout_is_error(layout, tmp_path, write_tone):
    root = layout("fsdd")
    write_tone(root / "recordings" / "notadigit.wav")
    m = load_dataset("fsdd", root)
    assert m.problems and "notadigit" in m.problems[0][0]
    with pytest.raises(ValueError, match="missing recordings"):
        load_dataset("fsdd", tmp_path)


def test_gsc_official_split_unknown_and_silence(layout):
    root = layout("gsc")
    m = load_dataset("gsc", root, words="yes,no,up")
    assert m.labels == ["yes", "no", "up"]
    assert splits_of(m) == {"test": 6, "valid": 6, "train": 24}
    assert_speaker_disjoint(m)
    full = load_dataset("gsc", root, words="yes,no,up", unknown=True, silence=True, seed=1)
    assert full.labels == ["yes", "no", "up", "_unknown_", "_silence_"]
    counts = Counter(i.label for i in full.items)
    assert counts["_unknown_"] == 12 and counts["_silence_"] == 12
    for item in full.items:
        if item.label == "_silence_":
            lo = {"train": 0.0, "valid": 16.0, "test": 18.0}[item.split]
            assert item.duration == 1.0 and lo <= item.start <= lo + (16.0 if item.split == "train" else 2.0) - 1.0
    with pytest.raises(ValueError, match="no folder for word"):
        load_dataset("gsc", root, words="yes,stop")


def test_gsc_default_keywords_missing_is_clear(layout):
    with pytest.raises(ValueError, match="down, left"):
        load_dataset("gsc", layout("gsc"))


def test_us8k_folds_and_test_fold(layout):
    root = layout("us8k")
    m = load_dataset("us8k", root)
    assert m.protocol == "folds" and sorted({i.fold for i in m.items}) == list(range(1, 11))
    assert m.labels == ["air_conditioner", "car_horn", "dog_bark"]
    k = load_dataset("us8k", root, fold=10)
    assert {i.fold for i in k.items if i.split == "test"} == {10}
    assert {i.fold for i in k.items if i.split == "valid"} == {1}
    with pytest.raises(ValueError, match="test fold 11 not present"):
        load_dataset("us8k", root, fold=11)


def test_us8k_valid_fold_choice_and_renamed_metadata(layout, tmp_path):
    root = layout("us8k")
    for fold in range(3, 10):  # a copy with folds 1, 2 and 10 only
        for wav in (root / "audio" / f"fold{fold}").glob("*.wav"):
            wav.unlink()
    csv_path = root / "metadata" / "UrbanSound8K.csv"
    lines = csv_path.read_text().splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if line.split(",")[5] in ("1", "2", "10")]
    csv_path.unlink()
    (root / "metadata" / "us8k_subset.csv").write_text("\n".join(kept) + "\n")
    with pytest.raises(ValueError, match="pass metadata= one of metadata/us8k_subset.csv"):
        load_dataset("us8k", root, fold=10)
    default = load_dataset("us8k", root, fold=10, metadata="metadata/us8k_subset.csv")
    assert len(default) == 9 and splits_of(default) == {"test": 3, "valid": 3, "train": 3}
    assert {i.fold for i in default.items if i.split == "valid"} == {1}  # the next fold, cyclically
    none = load_dataset("us8k", root, fold=10, valid_fold="none", metadata=str(root / "metadata" / "us8k_subset.csv"))
    assert splits_of(none) == {"test": 3, "train": 6} and none.notes[-1] == "test fold 10, no valid fold"
    two = load_dataset("us8k", root, fold=10, valid_fold=2, metadata="metadata/us8k_subset.csv")
    assert {i.fold for i in two.items if i.split == "valid"} == {2} and {i.fold for i in two.items if i.split == "train"} == {1}
    with pytest.raises(ValueError, match="valid fold 5 not present; folds in this copy: \\[1, 2, 10\\]"):
        load_dataset("us8k", root, fold=10, valid_fold=5, metadata="metadata/us8k_subset.csv")
    with pytest.raises(ValueError, match="valid_fold 10 is the test fold"):
        load_dataset("us8k", root, fold=10, valid_fold="10", metadata="metadata/us8k_subset.csv")
    with pytest.raises(ValueError, match="needs a test fold"):
        load_dataset("us8k", root, valid_fold=1, metadata="metadata/us8k_subset.csv")
    from edgedistill.cli.data import parse_options  # what `--option key=value` hands the loader

    options = parse_options(["fold=10", "valid_fold=none", "metadata=metadata/us8k_subset.csv"], loader_options("us8k"))
    assert options == {"fold": 10, "valid_fold": "none", "metadata": "metadata/us8k_subset.csv"}
    assert load_dataset("us8k", root, **options).items == none.items


def test_us8k_missing_columns(layout, write_table):
    root = layout("us8k")
    write_table(root / "metadata" / "UrbanSound8K.csv", ["slice_file_name", "fold"], [["a.wav", 1]])
    with pytest.raises(ValueError, match="lacks column.*fsID"):
        load_dataset("us8k", root)


def test_esc50_folds_esc10_and_single_fold_fallback(layout):
    root = layout("esc50")
    m = load_dataset("esc50", root, fold=2)
    assert {i.fold for i in m.items if i.split == "test"} == {2} and {i.fold for i in m.items if i.split == "valid"} == {3}
    assert load_dataset("esc50", root).protocol == "folds"
    ten = load_dataset("esc50", root, esc10=True)
    assert ten.labels == ["dog", "crow"] and ten.dataset == "esc10"
    single = load_dataset("esc50", layout("esc50", folds=(4,), per_fold=10), seed=0)
    assert single.protocol == "split" and "single fold" in single.notes[0]
    per_class = Counter((i.label, i.split) for i in single.items)
    for label in single.labels:
        assert per_class[(label, "test")] == 2 and per_class[(label, "valid")] == 2 and per_class[(label, "train")] == 6


def test_esc50_missing_meta_names_alternatives(layout):
    root = layout("esc50")
    (root / "meta" / "esc50.csv").rename(root / "meta" / "other.csv")
    with pytest.raises(ValueError, match="meta= one of other.csv"):
        load_dataset("esc50", root)
    assert len(load_dataset("esc50", root, meta="meta/other.csv")) == 30


def test_iemocap_four_classes_and_session_split(layout, tmp_path):
    root = layout("iemocap")
    m = load_dataset("iemocap", root)
    assert m.labels == ["angry", "happy", "neutral", "sad"] and m.protocol == "folds"
    counts = Counter(i.label for i in m.items)
    assert counts == {"happy": 20, "neutral": 10, "angry": 10, "sad": 10}  # exc merged, fru/xxx dropped
    s = load_dataset("iemocap", root, session=5)
    assert {i.fold for i in s.items if i.split == "test"} == {5}
    assert {i.speaker for i in s.items if i.split == "valid"} == {"Ses01F"}
    assert {i.speaker for i in s.items if i.fold == 1 and i.split == "train"} == {"Ses01M"}
    with pytest.raises(ValueError, match="no Session1..Session5"):
        load_dataset("iemocap", tmp_path)


def test_emodb_leave_speakers_out(layout):
    m = load_dataset("emodb", layout("emodb"))
    assert m.labels == sorted(["anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"])
    assert speakers_by_split(m) == {"test": {"03", "08"}, "valid": {"09", "10"}, "train": {"11", "12"}}
    assert Counter(i.label for i in m.items)["anger"] == 6
    with pytest.raises(ValueError, match="not in this copy"):
        load_dataset("emodb", layout("emodb"), test_speakers="99")


def test_ravdess_speech_layout_and_speaker_disjoint_split(layout, write_tone):
    root = layout("ravdess")
    write_tone(root / "Actor_03" / "02-01-01-01-01-01-03.wav")  # video-only modality
    write_tone(root / "Actor_03" / "03-01-01-01-02-01-04.wav")  # actor field disagrees with folder
    write_tone(root / "Actor_03" / "notes.wav")
    m = load_dataset("ravdess", root, seed=1)
    assert m.labels == ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    assert len(m) == 90 and Counter(i.label for i in m.items)["angry"] == 20  # normal + strong intensity
    assert all(i.speaker == i.path[6:8] for i in m.items) and len({i.speaker for i in m.items}) == 10
    reasons = sorted(r for _, r in m.problems)
    assert len(reasons) == 3 and m.notes[1] == "left out 10 file(s) of the other vocal channel"  # the song files
    assert any("modality 02" in r for r in reasons) and any("disagrees with the folder Actor_03" in r for r in reasons)
    assert_speaker_disjoint(m)
    parts = speakers_by_split(m)
    assert len(parts["test"]) == 2 and len(parts["valid"]) == 1 and len(parts["train"]) == 7  # 20 % / 10 % of actors
    assert load_dataset("ravdess", root, seed=1).items == m.items
    fixed = load_dataset("ravdess", root, test_speakers="01,02", valid_speakers="03", emotions="neutral,happy,sad,angry")
    assert speakers_by_split(fixed)["test"] == {"01", "02"} and speakers_by_split(fixed)["valid"] == {"03"}
    assert fixed.labels == ["neutral", "happy", "sad", "angry"] and len(fixed) == 50
    song = load_dataset("ravdess", root, channel="song")
    assert "disgust" not in song.labels and len(song) == 10 and Counter(i.label for i in song.items) == {"happy": 10}
    with pytest.raises(ValueError, match="speaker\\(s\\) \\['99'\\] not in this copy"):
        load_dataset("ravdess", root, test_speakers="99")
    with pytest.raises(ValueError, match="emotions \\['bored'\\] are not RAVDESS speech classes"):
        load_dataset("ravdess", root, emotions="bored")
    with pytest.raises(ValueError, match="no Actor_XX folders"):
        load_dataset("ravdess", root / "Actor_01")


def test_cremad_codes_both_layouts(layout, tmp_path, write_tone):
    nested = layout("cremad")
    write_tone(nested / "AudioWAV" / "1001_DFA_XYZ_XX.wav")
    m = load_dataset("cremad", nested, test=0.3, valid=0.2, seed=4)
    assert m.labels == ["anger", "disgust", "fear", "happy", "neutral", "sad"] and len(m) == 120
    assert Counter(i.label for i in m.items)["anger"] == 20 and m.problems[0][0] == "AudioWAV/1001_DFA_XYZ_XX.wav"
    assert m.items[0].path == "AudioWAV/1001_DFA_ANG_XX.wav" and m.items[0].speaker == "1001"
    assert_speaker_disjoint(m)
    assert {k: len(v) for k, v in speakers_by_split(m).items()} == {"test": 3, "valid": 2, "train": 5}
    from tests.data.conftest import make_cremad

    flat = load_dataset("cremad", make_cremad(tmp_path / "flat", nested=False), test_speakers="1001,1002", valid_speakers="")
    assert speakers_by_split(flat)["test"] == {"1001", "1002"} and "valid" not in speakers_by_split(flat)
    assert not flat.items[0].path.startswith("AudioWAV")
    with pytest.raises(ValueError, match="no WAV files; not a CREMA-D layout"):
        load_dataset("cremad", tmp_path / "flat" / "..")


def test_tess_folders_speaker_held_out(layout, write_tone):
    root = layout("tess")
    top = root / "TESS Toronto emotional speech set data"
    write_tone(top / "OAF_bored" / "OAF_back_bored.wav")
    write_tone(top / "YAF_sad" / "OAF_back_sad.wav")  # a file of the other speaker
    m = load_dataset("tess", root)
    assert m.labels == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprised"] and len(m) == 70
    assert Counter(i.label for i in m.items) == {label: 10 for label in m.labels}  # Fear/fear, both surprise spellings
    assert len(m.problems) == 2
    parts = speakers_by_split(m)
    assert len(parts["test"]) == 1 and parts["train"] == parts["valid"] and parts["test"] | parts["train"] == {"OAF", "YAF"}
    assert "not speaker-disjoint" in m.notes[0]
    valid = Counter(i.label for i in m.items if i.split == "valid")
    assert valid == {label: 1 for label in m.labels}  # class-stratified: 10 % of 35 -> 20 % of the speaker's 5 per class
    yaf = load_dataset("tess", root, test_speakers="YAF", valid=0)
    assert speakers_by_split(yaf) == {"test": {"YAF"}, "train": {"OAF"}}


def test_folder_any_depth_and_formats(layout):
    m = load_dataset("folder", layout("folder"), seed=2)
    assert m.labels == ["bark", "meow"] and len(m) == 20
    assert any(i.path.endswith(".flac") for i in m.items) and any("deep/er" in i.path for i in m.items)
    assert splits_of(m) == {"train": 16, "valid": 2, "test": 2}


def test_manifest_csv(tmp_path, write_tone, write_table):
    for k in range(6):
        write_tone(tmp_path / "a" / f"{k}.wav")
    rows = [[f"a/{k}.wav", "x" if k % 2 else "y", "", f"s{k % 3}"] for k in range(6)]
    path = write_table(tmp_path / "list.csv", ["path", "label", "split", "speaker"], rows)
    m = load_dataset("manifest", path, test=0.34, valid=0.34)
    assert m.labels == ["x", "y"] and "speaker-disjoint" in m.notes[0]
    assert_speaker_disjoint(m)
    write_table(tmp_path / "bad.csv", ["file", "label"], [["a/0.wav", "x"]])
    with pytest.raises(ValueError, match="lacks column.*path"):
        load_dataset("manifest", tmp_path / "bad.csv")
    write_table(tmp_path / "dup.csv", ["path", "label", "split"], [["a/0.wav", "x", "train"], ["a/0.wav", "x", "test"],
                                                                   ["a/1.wav", "z", "train"], ["a/2.wav", "x", "testing"]])
    dup = load_dataset("manifest", tmp_path / "dup.csv", classes="x,y")
    reasons = [r for _, r in dup.problems]
    assert len(dup) == 2 and any("duplicate" in r for r in reasons) and any("'z' is not one of" in r for r in reasons)
    assert splits_of(dup) == {"train": 1, "test": 1}
    write_table(tmp_path / "badsplit.csv", ["path", "label", "split"], [["a/0.wav", "x", "holdout"]])
    with pytest.raises(ValueError, match="line 2: split 'holdout'"):
        load_dataset("manifest", tmp_path / "badsplit.csv")


# Real samples in ../shared/data --------------------------------------------------------------
def test_shared_fsdd(shared_data):
    m = load_dataset("fsdd", shared_data / "fsdd")
    assert len(m) == 3000 and splits_of(m) == {"train": 2400, "valid": 300, "test": 300} and not m.problems
    assert_speaker_disjoint(load_dataset("fsdd", shared_data / "fsdd", split="speaker"))


def test_shared_speech_commands(shared_data):
    root = shared_data / "speech_commands" / "v0.01_sample_vinsis"
    m = load_dataset("gsc", root, unknown=True, silence=True, noise_dir=shared_data / "speech_commands" / "_background_noise_")
    assert m.labels[-2:] == ["_unknown_", "_silence_"] and Counter(i.label for i in m.items)["yes"] == 10
    assert_speaker_disjoint(m.with_items([i for i in m.items if i.label != "_silence_"]))
    folder = load_dataset("folder", shared_data / "speech_commands" / "sample_anrose")
    assert folder.labels == ["nine", "right", "zero"] and len(folder) == 150


def test_shared_esc50_single_fold(shared_data):
    m = load_dataset("esc50", shared_data / "esc50_subset", meta="meta/esc50_subset.csv")
    assert len(m) == 250 and len(m.labels) == 50 and "single fold" in m.notes[0]
    assert_speaker_disjoint(m)  # source recordings (src_file) never straddle splits


def test_shared_emodb(shared_data):
    m = load_dataset("emodb", shared_data / "emodb")
    assert len(m) == 535 and Counter(i.label for i in m.items)["anger"] == 127
    assert_speaker_disjoint(m)
