"""One clock everywhere: the 24-hour clock and day-month dates, in admin too (Django's `en` says "4 p.m.").

The pages format times with the same patterns ("D j M, H:i"); this covers what Django formats by itself.
"""

DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
MONTH_DAY_FORMAT = "j F"
YEAR_MONTH_FORMAT = "F Y"
FIRST_DAY_OF_WEEK = 1  # Monday
