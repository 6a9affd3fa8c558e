"""A short science-then-maths class, as transcript finals: two subjects, student questions, homework."""

from __future__ import annotations

INSTRUCTOR = ("ms-lee", "Ms Lee")
SAM = ("sam", "Sam")
ALI = ("ali", "Ali")

LINES: list[tuple[tuple[str, str], str]] = [
    (INSTRUCTOR, "Good morning everyone, today we start with photosynthesis."),
    (INSTRUCTOR, "Photosynthesis is how plants turn sunlight into chemical energy."),
    (INSTRUCTOR, "The leaves capture light with a green pigment called chlorophyll."),
    (INSTRUCTOR, "Chlorophyll absorbs red and blue light and reflects green light."),
    (INSTRUCTOR, "Plants take in carbon dioxide from the air through tiny pores in the leaves."),
    (INSTRUCTOR, "Water travels up from the roots to the leaves through the stem."),
    (SAM, "Why are the leaves green and not black?"),
    (INSTRUCTOR, "Because chlorophyll reflects the green part of sunlight back to our eyes."),
    (INSTRUCTOR, "Using light energy, the plant splits water and releases oxygen into the air."),
    (INSTRUCTOR, "The plant combines carbon dioxide and water to build glucose, a sugar."),
    (INSTRUCTOR, "Glucose stores the energy that the plant uses to grow."),
    (INSTRUCTOR, "So photosynthesis feeds the plant and gives us the oxygen we breathe."),
    (INSTRUCTOR, "Without sunlight, photosynthesis stops and the plant cannot make sugar."),
    (INSTRUCTOR, "Now let us switch subjects and move on to fractions in mathematics."),
    (INSTRUCTOR, "A fraction has a numerator on top and a denominator on the bottom."),
    (INSTRUCTOR, "The denominator tells us how many equal parts the whole is divided into."),
    (INSTRUCTOR, "To add fractions, the denominators must be the same."),
    (INSTRUCTOR, "One half plus one quarter equals three quarters, after converting one half to two quarters."),
    (ALI, "How do we find a common denominator for thirds and fifths?"),
    (INSTRUCTOR, "Multiply the denominators three and five to get fifteen as the common denominator."),
    (INSTRUCTOR, "Then rewrite each fraction with fifteen as the denominator before adding the numerators."),
    (INSTRUCTOR, "Simplify the answer by dividing the numerator and denominator by their greatest common factor."),
    (INSTRUCTOR, "Two fourths simplifies to one half because both numbers divide by two."),
    (INSTRUCTOR, "Equivalent fractions name the same amount with different numbers."),
    (INSTRUCTOR, "For homework, please finish the fractions worksheet by Friday."),
    (INSTRUCTOR, "Also read chapter four about plants before next class."),
    (INSTRUCTOR, "Thank you all, see you on Thursday."),
]
