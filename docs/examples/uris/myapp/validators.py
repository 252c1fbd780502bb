import re

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)


def email(value: str) -> bool:
    return EMAIL.fullmatch(value) is not None
