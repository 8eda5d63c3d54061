"""Reading spreadsheets and files of examples, below the stages and the tasks.

``cells.py`` turns cells into text (NFC, whitespace, numbers and dates); ``files.py`` reads
CSV and JSON files like a sheet; ``labels.py`` the label-table knowledge (major groups);
``outputs.py`` writes the .xlsx and .csv outputs people open in a spreadsheet.
"""
