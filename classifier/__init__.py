"""gridbot's classifier: is a group-chat message an actionable complaint, and of which category?"""
