"""Reports (``qylon report``): figures people look at rather than read row by row.

``meetings`` computes the meeting figures from plain records, the same function on the
consultant's device (the agent's store) and on the team server (its database), so both
give the same numbers for the same meetings. ``layout`` turns a report's JSON into tables
and charts; ``formats`` writes them as a table, CSV, Markdown or HTML; ``charts`` draws
the charts (matplotlib, headless, imported only when a PNG or HTML report is asked for).
"""
