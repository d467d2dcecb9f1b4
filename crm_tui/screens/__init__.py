"""Full screens and modal dialogs; they call services in thread workers."""
