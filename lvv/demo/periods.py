"""Delivery months as integers (year * 12 + month - 1), so that 'a month later' is + 1."""

from __future__ import annotations

import calendar
from datetime import date


def period_of(day: date) -> int:
    return day.year * 12 + day.month - 1


def parse_period(text: str) -> int:
    year, month = text.split("-")
    return int(year) * 12 + int(month) - 1


def period_text(period: int) -> str:
    return f"{period // 12:04d}-{period % 12 + 1:02d}"


def month_end(period: int) -> date:
    year, month = period // 12, period % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


def month_start(period: int) -> date:
    return date(period // 12, period % 12 + 1, 1)
