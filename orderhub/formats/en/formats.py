"""One date format across the admin, in both languages: ops compare times at a glance (a list showed
"Nov. 30, 2026, 3:42 p.m." beside "11-30 16:43"). Times are in the configured TIME_ZONE."""

DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
