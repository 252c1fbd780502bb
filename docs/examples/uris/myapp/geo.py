import os

API_KEY = os.environ["GEOCODER_API_KEY"]  # KeyError at import time when unset


def postcode(value: str) -> bool:
    return bool(API_KEY) and value.isalnum()
