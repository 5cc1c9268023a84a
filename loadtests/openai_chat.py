"""OpenAI-style chat completions under load, streamed and not.

    locust -f loadtests/openai_chat.py --host http://127.0.0.1:8000/v1
    locust -f loadtests/openai_chat.py --host URL --headless -u 32 -r 32 -t 60s \\
        OpenAIChatStreamUser --provider weai --max-tokens 128

``--provider`` picks the OpenAI-style profile (openai, nebulablock, weai); the key is read
from the profile's environment variable or ``--api-key-env VAR``. TTFT, ITL and TPOT show
up in Locust's statistics as request types of their own.
"""

from conformance.loadgen.users import OpenAIChatStreamUser, OpenAIChatUser

__all__ = ["OpenAIChatStreamUser", "OpenAIChatUser"]
