"""The one exception a stage raises for bad input: its message is what the user reads."""


class PipelineError(Exception):
    """Bad input or a missing prerequisite. The message names the file, sheet, column or row.

    ``main()`` of every stage turns it into one line on stderr and exit code 2.
    """

    exit_code = 2
