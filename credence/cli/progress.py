r"""Progress of long commands: bars on a terminal, one line per finished stage otherwise.

A log file or a CI console is not a terminal: redrawn bars would write hundreds of
carriage-return frames into it. There each stage prints one summary line when it
ends (``   load links  10,000 rows  0.4 s``), and nothing while it runs.

Both reporters are :data:`credence.graph.store.ProgressFn` callables,
``progress(stage, done, total)``, and context managers that close what they drew.

Examples
--------
>>> import io
>>> out = io.StringIO()
>>> with Progress(stream=out, terminal=False, clock=iter([0.0, 0.5]).__next__) as progress:
...     progress("links", 0, 10_000)
...     progress("links", 10_000, 10_000)
>>> out.getvalue()
'       links  10,000 rows  0.5 s\n'
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

__all__ = ["Progress", "StageProgress"]

_LABEL = 12


class _Reporter:
    """Shared plumbing: where to write, whether it is a terminal, and a clock."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        stream: IO[str] | None = None,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = terminal if terminal is not None else bool(isatty is not None and isatty())
        self.clock = clock

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Finish what was drawn."""

    def line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class Progress(_Reporter):
    """One bar per stage on a terminal (rows done of total); a summary line per stage otherwise."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.bars: dict[str, Any] = {}
        self.started: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Report ``done`` of ``total`` rows of ``stage``: move its bar, or print its line once done."""
        if not self.enabled:
            return
        if stage not in self.started:
            self.started[stage] = self.clock()
        if self.terminal:
            self._draw(stage, done, total)
        elif done >= total:
            seconds = self.clock() - self.started[stage]
            self.line(f"{stage:>{_LABEL}}  {total:,} rows  {seconds:.1f} s")

    def _draw(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(
                total=total, desc=f"{stage:>{_LABEL}}", unit=" rows", unit_scale=True, leave=True,
                file=self.stream, dynamic_ncols=True,
            )  # fmt: skip
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        """Close every bar still open (a stage that never finished keeps what it reached)."""
        for bar in self.bars.values():
            bar.close()


class StageProgress(_Reporter):
    r"""The stages of a recompute: one bar on a terminal, one summary line at the end otherwise.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> ticks = iter([0.0, 0.1, 0.8])
    >>> with StageProgress(stream=out, terminal=False, clock=ticks.__next__) as stages:
    ...     for stage in ("export", "factors"):
    ...         stages(stage, 0, 1)
    ...         stages(stage, 1, 1)
    >>> out.getvalue()
    '     scoring  export 0.1 s, factors 0.7 s\n'
    """

    STAGES = ("export", "factors", "diffusion", "scores", "write")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.bar: Any = None
        self.seconds: dict[str, float] = {}
        self.mark: float | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Report ``stage``: named on the bar while it runs, timed and counted once ``done >= total``."""
        if not self.enabled:
            return
        if self.mark is None:
            self.mark = self.clock()
        if self.terminal and self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=len(self.STAGES), desc=f"{'scoring':>{_LABEL}}", unit=" stages",
                            file=self.stream, dynamic_ncols=True, leave=True)  # fmt: skip
        if self.bar is not None:
            self.bar.set_postfix_str(stage)
        if done >= total:
            now = self.clock()
            self.seconds[stage] = now - self.mark
            self.mark = now
            if self.bar is not None:
                self.bar.update(1)

    def close(self) -> None:
        """Close the bar, or print the one summary line of the finished stages' times."""
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.seconds:
            parts = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in self.seconds.items())
            self.line(f"{'scoring':>{_LABEL}}  {parts}")
