import cv2
import numpy as np

from engagement.attention import CameraWatcher, FaceCounter

FACES = FaceCounter()


def picture(value: int, bar_at: int | None = None) -> np.ndarray:
    image = np.full((360, 640), value, dtype=np.uint8)
    if bar_at is not None:
        image[:, bar_at:bar_at + 40] = 240
    return image


def test_a_black_picture_is_black_and_has_no_face():
    findings = CameraWatcher(FACES).examine(picture(3))
    assert findings.black and findings.faces == 0 and findings.change is None


def test_an_unchanging_picture_is_frozen_and_a_moving_one_is_not():
    watcher = CameraWatcher(FACES)
    watcher.examine(picture(90, bar_at=0))
    assert watcher.examine(picture(90, bar_at=0)).frozen
    moving = watcher.examine(picture(90, bar_at=300))
    assert not moving.frozen and moving.change > 1


def test_noise_alone_is_not_a_face():
    rng = np.random.default_rng(7)
    findings = CameraWatcher(FACES).examine(rng.integers(0, 255, (360, 640), dtype=np.uint8))
    assert findings.faces == 0 and not findings.black


def test_a_photograph_of_a_person_has_a_face():
    from tests.synthetic import face_photo

    gray = cv2.cvtColor(face_photo(), cv2.COLOR_RGB2GRAY)
    findings = CameraWatcher(FACES).examine(gray)
    assert findings.faces >= 1 and not findings.black
