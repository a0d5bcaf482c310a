# SPDX-License-Identifier: GPL-2.0-or-later
"""C generators for scripts/qapi-gen.py: types, visitors, commands, events."""
