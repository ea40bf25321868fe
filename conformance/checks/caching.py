"""Checks of the caching area: prompt caching reported in usage.

The same long prefix (over OpenAI's 1,024-token minimum) is sent twice, one request after the
other (cache_first, then cache_second); the second usage
should report `prompt_tokens_details.cached_tokens`. Caching is optional: no count, or a count
of 0, is `unsupported`; a count that cannot be true (more than the prompt,
not an integer) or a second usage that breaks the usage rules is a `fail`.
"""

from __future__ import annotations

from conformance.checks.base import Context, Fail, Unsupported, check
from conformance.checks.common import excerpt, is_int, require_json, usage_of


@check("caching.cached_tokens")
def caching_cached_tokens(ctx: Context) -> str | None:
    require_json(ctx, ctx.probe("cache_first"), what="the first long-prefix request")
    usage = usage_of(require_json(ctx, ctx.probe("cache_second"), what="the repeated long-prefix request"))
    counts = {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    if not all(is_int(v) for v in counts.values()) or counts["total_tokens"] != counts["prompt_tokens"] + counts["completion_tokens"]:
        raise Fail(f"usage of the repeated request: received {excerpt(counts)}; expected integers with total = prompt + completion")
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        raise Unsupported("no prompt_tokens_details.cached_tokens on a repeated long prefix: prompt caching is not reported")
    if not is_int(cached) or not 0 <= cached <= counts["prompt_tokens"]:
        raise Fail(f"cached_tokens {excerpt(cached)} of prompt_tokens {counts['prompt_tokens']}: expected an integer from 0 to prompt_tokens")
    if cached == 0:
        raise Unsupported(f"cached_tokens 0 on a repeated {counts['prompt_tokens']}-token prompt: no prompt caching reported")
    return f"{cached} of {counts['prompt_tokens']} prompt tokens cached"
